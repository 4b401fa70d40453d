from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from events.presentation import event_to_dict
from events.services import MAX_BATCH
from tradingops.api.fields import AwareDateTimeField
from tradingops.api.serializers import StrictInputSerializer


class EventOutputSerializer(serializers.Serializer):
    """The REST shape of an event; WebSocket frames carry the same JSON."""

    id = serializers.IntegerField(help_text="Log position: pass it as ?after= to catch up.")
    event_id = serializers.UUIDField()
    ts = serializers.DateTimeField()
    recorded_at = serializers.DateTimeField()
    type = serializers.CharField()
    source = serializers.CharField()
    run_id = serializers.CharField()
    correlation_id = serializers.UUIDField()
    causation_id = serializers.UUIDField(allow_null=True)
    dedupe_key = serializers.CharField(allow_null=True)
    schema_version = serializers.IntegerField()
    payload = serializers.JSONField()

    def to_representation(self, instance):
        return event_to_dict(instance)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "An operator's note",
            value={
                "type": "intent",
                "payload": {"action": "note", "symbol": "SOL-USDT", "note": "Funding flipped negative"},
                "dedupe_key": "note-2026-12-05-01",
            },
            request_only=True,
        ),
        OpenApiExample(
            "An external agent reports its LLM call",
            value={
                "type": "llm_call",
                "run_id": "research-agent-7",
                "payload": {
                    "model": "gpt-4o-mini",
                    "agent": "researcher",
                    "prompt_hash": "9f2c1a7e",
                    "tokens_in": 1250,
                    "tokens_out": 310,
                    "cost": "0.000374",
                    "latency_ms": 840,
                    "outcome": "ok",
                },
                "ts": "2026-12-05T09:30:00Z",
            },
            request_only=True,
        ),
    ]
)
class EventInputSerializer(StrictInputSerializer):
    """What a client may say about an event. ``source`` is not among it: the server sets it to
    ``user:<username>`` of the authenticated user (or token)."""

    type = serializers.CharField(
        max_length=64, help_text="A client-postable event type: intent (action note), llm_call or run_control."
    )
    payload = serializers.DictField(
        help_text='The type\'s payload, checked against its schema, e.g. {"action": "note", "note": "..."}.'
    )
    run_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="The client's own run, e.g. research-agent-7; runs the system writes are refused.",
    )
    correlation_id = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="The chain this event belongs to; default: its own id."
    )
    causation_id = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="The event_id of the event that caused this one."
    )
    dedupe_key = serializers.CharField(
        max_length=200,
        required=False,
        allow_null=True,
        default=None,
        help_text="Scoped to the posting user: a repeated key stores nothing new.",
    )
    ts = AwareDateTimeField(
        required=False, allow_null=True, default=None, help_text="When it happened, with a time zone; default: now."
    )


class EventBatchInputSerializer(serializers.ListSerializer):
    def __init__(self, *args, **kwargs):
        # ListSerializer reads these from its arguments, not from class attributes
        kwargs.setdefault("child", EventInputSerializer())
        kwargs.setdefault("max_length", MAX_BATCH)
        kwargs.setdefault("allow_empty", False)
        super().__init__(*args, **kwargs)


class ChainEventSerializer(EventOutputSerializer):
    cause = serializers.DictField(allow_null=True, help_text="The event that caused this one, if any.")

    def to_representation(self, instance):
        data = event_to_dict(instance)
        cause = instance.cause
        data["cause"] = {"event_id": str(cause.event_id), "type": cause.type} if cause else None
        return data


class ChainSerializer(serializers.Serializer):
    correlation_id = serializers.UUIDField()
    count = serializers.IntegerField(help_text="Steps in the whole chain (all pages).")
    next = serializers.URLField(allow_null=True, help_text="The next page, if any.")
    previous = serializers.URLField(allow_null=True)
    hidden_types = serializers.ListField(
        child=serializers.CharField(), help_text="Types left out (heartbeats, marks); all=1 shows them."
    )
    events = ChainEventSerializer(many=True)


class DecisionPathSerializer(serializers.Serializer):
    event_id = serializers.SerializerMethodField()
    correlation_id = serializers.SerializerMethodField()
    truncated = serializers.BooleanField(
        help_text="More consequences exist than shown; the correlation chain (paged) has them all."
    )
    correlation_chain = serializers.SerializerMethodField(help_text="The API address of the whole correlation chain.")
    steps = ChainEventSerializer(many=True)
    sections = serializers.DictField(
        child=serializers.DictField(),
        help_text=(
            "What other apps add about this decision, by name. 'shadow' on a block's path: what the blocked "
            "trade would have done (exact decimals, and 'display' with the numbers as the page shows them); "
            "absent when the block has no shadow."
        ),
    )

    def get_event_id(self, path) -> str:
        return str(path.event.event_id)

    def get_correlation_id(self, path) -> str:
        return str(path.event.correlation_id)

    def get_correlation_chain(self, path) -> str:
        return reverse("events:event-chain", kwargs={"correlation_id": path.event.correlation_id})


class RunSummarySerializer(serializers.Serializer):
    run_id = serializers.CharField()
    status = serializers.CharField()
    mode = serializers.CharField()
    first_event_at = serializers.DateTimeField()
    last_event_at = serializers.DateTimeField()
    event_count = serializers.IntegerField()
    counts_by_type = serializers.SerializerMethodField()

    def get_counts_by_type(self, run) -> dict[str, int]:
        return {row.type: row.count for row in sorted(run.type_counts.all(), key=lambda row: row.type)}
