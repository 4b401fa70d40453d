import io
import uuid
from datetime import UTC, datetime, timedelta

from django.core.management import call_command

from events.models import LLMCall, RunEventCount, RunSummary
from events.services import EventDraft, emit, emit_many

T0 = datetime(2024, 9, 20, tzinfo=UTC)


def _snapshot():
    return {
        "runs": sorted(
            RunSummary.objects.values_list(
                "run_id", "first_event_at", "last_event_at", "event_count", "control_state", "control_at", "mode"
            )
        ),
        "counts": sorted(RunEventCount.objects.values_list("run_id", "type", "count")),
        "llm": sorted(LLMCall.objects.values_list("event_id", "model", "agent", "tokens_in", "tokens_out", "cost")),
    }


def test_rebuild_gives_the_same_read_models_as_incremental_projection(db):
    for i in range(30):
        run = f"r{i % 4}"
        ts = T0 + timedelta(minutes=i)
        emit("intent", {"action": "note"}, source="x", run_id=run, ts=ts)
        if i % 7 == 0:
            emit(
                "run_control",
                {"action": ["pause", "resume", "stop"][i % 3], "mode": "paper"},
                source="x",
                run_id=run,
                ts=ts,
            )
    emit_many(
        [
            EventDraft(
                "llm_call",
                {
                    "model": f"m{i % 2}",
                    "agent": "planner",
                    "prompt_hash": uuid.uuid4().hex,
                    "tokens_in": i,
                    "tokens_out": 2 * i,
                    "cost": f"0.{i:03d}",
                    "latency_ms": 100 + i,
                },
                "agent:planner",
                run_id="r1",
                ts=T0 + timedelta(seconds=i),
            )
            for i in range(12)
        ]
    )
    incremental = _snapshot()
    assert len(incremental["runs"]) == 4
    assert len(incremental["llm"]) == 12

    RunSummary.objects.filter(run_id="r2").update(event_count=999)  # a corrupted read model
    LLMCall.objects.filter(model="m0").delete()
    out, err = io.StringIO(), io.StringIO()
    call_command("rebuild_projections", stdout=out, stderr=err)

    assert _snapshot() == incremental
    assert "Replayed 47 events" in out.getvalue()
    assert "47/47" in err.getvalue()  # the progress bar


def test_rebuild_one_projector_leaves_the_others(db):
    emit("intent", {"action": "note"}, source="x", run_id="r1")
    LLMCall.objects.all().delete()
    call_command("rebuild_projections", "--projector", "run_summaries", "--no-progress", stdout=io.StringIO())
    assert RunSummary.objects.get().event_count == 1
