"""The projector registry, and the events app's own projectors (run summaries, LLM telemetry).

A projector turns events of some types into read-model rows. It runs inside the transaction that
writes the events, so a projector that raises rolls the events back. Projectors take a list (one
event for ``emit``, a batch for ``emit_many`` and for ``rebuild_projections``) so that bulk paths
cost one statement per batch, not one per event. Each must be idempotent for a given event.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from tradingops.db import is_postgres, server_binding_cursor, upsert_increment

from .models import Event, LLMCall, RunEventCount, RunSummary


@dataclass(frozen=True)
class Projector:
    name: str
    event_types: frozenset[str]
    apply: Callable[[Sequence[Event]], None]
    reset: Callable[[], None]
    """Empties the read models this projector owns (for ``rebuild_projections``)."""


_projectors: dict[str, Projector] = {}


def register(projector: Projector) -> Projector:
    _projectors[projector.name] = projector
    return projector


def unregister(name: str) -> None:
    """Forget the projector registered under ``name`` (a test's own projector; unknown names are ignored)."""
    _projectors.pop(name, None)


def all_projectors() -> list[Projector]:
    return list(_projectors.values())


def run_projectors(events: Sequence[Event], projectors: Iterable[Projector] | None = None) -> None:
    for projector in projectors if projectors is not None else _projectors.values():
        matching = [event for event in events if event.type in projector.event_types]
        if matching:
            projector.apply(matching)


# --- Run summaries ---------------------------------------------------------------------------

_mode_provider: Callable[[], str] = lambda: settings.TRADING_MODE  # noqa: E731


def set_mode_provider(provider: Callable[[], str]) -> Callable[[], str]:
    """The agents app registers the runtime configuration's mode here at ``ready()``. Returns the
    provider it replaces (a test puts it back)."""
    global _mode_provider
    replaced, _mode_provider = _mode_provider, provider
    return replaced


_CONTROL_STATE = {"start": "running", "resume": "running", "pause": "paused", "stop": "stopped"}


def project_run_summaries(events: Sequence[Event]) -> None:
    by_run: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.run_id:
            by_run[event.run_id].append(event)
    if not by_run:
        return
    if is_postgres() and not any(event.type == "run_control" for event in events):
        _upsert_run_summaries(by_run)
        return
    mode = _mode_provider()
    # Make sure each run has a row, then lock the rows in a fixed order: concurrent writers of
    # the same run serialise here instead of racing on an insert.
    RunSummary.objects.bulk_create(
        [
            RunSummary(run_id=run_id, first_event_at=run_events[0].ts, last_event_at=run_events[0].ts, mode=mode)
            for run_id, run_events in by_run.items()
        ],
        ignore_conflicts=True,
    )
    summaries = list(RunSummary.objects.select_for_update().filter(run_id__in=list(by_run)).order_by("run_id"))
    for summary in summaries:
        for event in by_run[summary.run_id]:
            summary.first_event_at = min(summary.first_event_at, event.ts)
            summary.last_event_at = max(summary.last_event_at, event.ts)
            summary.event_count += 1
            if event.type == "run_control" and (summary.control_at is None or event.ts >= summary.control_at):
                summary.control_state = _CONTROL_STATE[event.payload["action"]]
                summary.control_at = event.ts
                summary.mode = event.payload.get("mode", summary.mode)
    RunSummary.objects.bulk_update(
        summaries, ["first_event_at", "last_event_at", "event_count", "control_state", "control_at", "mode"]
    )
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for run_id, run_events in by_run.items():
        for event in run_events:
            counts[(run_id, event.type)] += 1
    _increment_type_counts(counts)


def _increment_type_counts(counts: dict[tuple[str, str], int]) -> None:
    # One upsert-increment for the whole batch: concurrent writers add, never overwrite.
    upsert_increment(
        RunEventCount._meta.db_table,
        keys=("run_id", "type"),
        add=("count",),
        rows=[(run_id, event_type, count) for (run_id, event_type), count in sorted(counts.items())],
    )


_runs_seen: set[str] = set()
"""Runs this process has upserted. The mode is only read for a run's first event, and reading it
may cost a query (the agents' runtime configuration), so it is skipped for runs seen before."""


def _upsert_run_summaries(by_run: dict[str, list[Event]]) -> None:
    """Postgres, no control event in the batch: summaries and type counts in one statement.

    Each run's row is created or folded into (first/last time, count) by an upsert; the upsert
    row-locks in run_id order, so concurrent writers serialise as with the locking path above.
    A run seen before whose row has gone (rolled back, or reset by ``rebuild_projections``) comes
    back as inserted without a mode, and gets it in a second statement.
    """
    runs = sorted(by_run)
    seen = _runs_seen.issuperset(runs)
    mode = "" if seen else _mode_provider()
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for run_id in runs:
        for event in by_run[run_id]:
            counts[(run_id, event.type)] += 1
    count_keys = sorted(counts)
    params = {
        "mode": mode,
        "runs": runs,
        "firsts": [min(event.ts for event in by_run[run_id]) for run_id in runs],
        "lasts": [max(event.ts for event in by_run[run_id]) for run_id in runs],
        "ns": [len(by_run[run_id]) for run_id in runs],
        "count_runs": [run_id for run_id, _ in count_keys],
        "count_types": [event_type for _, event_type in count_keys],
        "counts": [counts[key] for key in count_keys],
    }
    with server_binding_cursor() as cursor:
        cursor.execute(_UPSERT_RUN_SUMMARIES_SQL, params)
        inserted = [run_id for (run_id,) in cursor.fetchall()]
        if seen and inserted:
            RunSummary.objects.filter(run_id__in=inserted).update(mode=_mode_provider())
    if len(_runs_seen) > 100_000:
        _runs_seen.clear()
    _runs_seen.update(runs)


_UPSERT_RUN_SUMMARIES_SQL = f"""
WITH summaries AS (
    INSERT INTO {RunSummary._meta.db_table} AS s
        (run_id, first_event_at, last_event_at, event_count, control_state, control_at, mode)
    SELECT run_id, first_at, last_at, n, '', NULL, %(mode)s
    FROM unnest(%(runs)b::text[], %(firsts)b::timestamptz[], %(lasts)b::timestamptz[], %(ns)b::int8[])
        AS u(run_id, first_at, last_at, n)
    ORDER BY run_id
    ON CONFLICT (run_id) DO UPDATE SET
        first_event_at = LEAST(s.first_event_at, excluded.first_event_at),
        last_event_at = GREATEST(s.last_event_at, excluded.last_event_at),
        event_count = s.event_count + excluded.event_count
    RETURNING run_id, xmax = 0 AS inserted
), counts AS (
    INSERT INTO {RunEventCount._meta.db_table} AS c (run_id, type, count)
    SELECT run_id, type, n
    FROM unnest(%(count_runs)b::text[], %(count_types)b::text[], %(counts)b::int8[]) AS u(run_id, type, n)
    ORDER BY run_id, type
    ON CONFLICT (run_id, type) DO UPDATE SET count = c.count + excluded.count
)
SELECT run_id FROM summaries WHERE inserted
"""  # noqa: S608 - table names are constants; values are bound parameters


def reset_run_summaries() -> None:
    _runs_seen.clear()
    RunEventCount.objects.all().delete()
    RunSummary.objects.all().delete()


class _AllTypes(frozenset):
    """Matches every event type: run summaries count events of every type."""

    def __contains__(self, item) -> bool:
        return True


register(Projector("run_summaries", _AllTypes(), project_run_summaries, reset_run_summaries))


# --- LLM telemetry ---------------------------------------------------------------------------


def project_llm_calls(events: Sequence[Event]) -> None:
    LLMCall.objects.bulk_create(
        [
            LLMCall(
                event_id=event.event_id,
                ts=event.ts,
                run_id=event.run_id,
                correlation_id=event.correlation_id,
                model=event.payload["model"],
                agent=event.payload["agent"],
                prompt_hash=event.payload["prompt_hash"],
                tokens_in=event.payload["tokens_in"],
                tokens_out=event.payload["tokens_out"],
                cost=Decimal(event.payload["cost"]),
                latency_ms=event.payload["latency_ms"],
                outcome=event.payload.get("outcome", "ok"),
            )
            for event in events
        ],
        ignore_conflicts=True,
    )


def reset_llm_calls() -> None:
    LLMCall.objects.all().delete()


register(Projector("llm_calls", frozenset({"llm_call"}), project_llm_calls, reset_llm_calls))
