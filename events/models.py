import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce
from django.utils import timezone

from tradingops.fields import MoneyField


class Event(models.Model):
    """One fact in the append-only log. Written only by ``events.services.emit``/``emit_many``.

    ``id`` is the log position (monotonic, used as the catch-up cursor); ``event_id`` is the
    public identity; ``correlation_id`` threads a decision chain and ``causation_id`` names the
    event that caused this one.
    """

    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    ts = models.DateTimeField(help_text="When it happened (UTC).")
    recorded_at = models.DateTimeField(default=timezone.now, help_text="When the store received it.")
    type = models.CharField(max_length=64)
    source = models.CharField(max_length=128)
    run_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField()
    causation_id = models.UUIDField(null=True, blank=True)
    # Unique by a constraint, not ``unique=True``: that would add a second (LIKE) index that no
    # query uses and every insert pays for. NULL, not "": events without a key must not collide.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    schema_version = models.PositiveSmallIntegerField(default=1)
    payload = models.JSONField(encoder=DjangoJSONEncoder, default=dict)

    class Meta:
        ordering = ("-ts", "-id")
        indexes = [
            models.Index(fields=["ts", "id"], name="event_ts"),
            models.Index(fields=["type", "ts", "id"], name="event_type_ts"),
            models.Index(fields=["correlation_id", "ts", "id"], name="event_correlation_ts"),
            models.Index(fields=["run_id", "ts", "id"], name="event_run_ts"),
            models.Index(fields=["source", "ts", "id"], name="event_source_ts"),
            # A decision's own chain walks causation both ways (events.selectors.event_decision_path).
            models.Index(fields=["causation_id"], name="event_causation"),
            # The Decisions list sorted by symbol (events.selectors.SYMBOL_KEY is this expression).
            models.Index(Coalesce(KT("payload__symbol"), models.Value("")), "ts", "id", name="event_symbol_ts"),
        ]
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="event_dedupe_key_unique")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class RunSummary(models.Model):
    """Per-run read model, projected from every event that carries a ``run_id``."""

    class ControlState(models.TextChoices):
        NONE = "", "none"
        RUNNING = "running", "running"
        PAUSED = "paused", "paused"
        STOPPED = "stopped", "stopped"

    run_id = models.CharField(max_length=64, primary_key=True)
    first_event_at = models.DateTimeField()
    last_event_at = models.DateTimeField()
    event_count = models.PositiveBigIntegerField(default=0)
    control_state = models.CharField(max_length=16, choices=ControlState.choices, blank=True, default="")
    control_at = models.DateTimeField(null=True, blank=True)
    mode = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        verbose_name_plural = "run summaries"
        indexes = [models.Index(fields=["last_event_at", "run_id"], name="run_last_event")]

    def __str__(self) -> str:
        return self.run_id


class RunEventCount(models.Model):
    """How many events of one type a run has; kept by upsert-increment, never by counting."""

    run = models.ForeignKey(RunSummary, on_delete=models.CASCADE, related_name="type_counts")
    type = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "type"], name="run_event_count_unique")]

    def __str__(self) -> str:
        return f"{self.run_id} {self.type}={self.count}"


class LLMCall(models.Model):
    """LLM telemetry, projected from ``llm_call`` events."""

    event_id = models.UUIDField(unique=True)
    ts = models.DateTimeField()
    run_id = models.CharField(max_length=64, blank=True, default="")
    correlation_id = models.UUIDField()
    model = models.CharField(max_length=128)
    agent = models.CharField(max_length=64)
    prompt_hash = models.CharField(max_length=128)
    tokens_in = models.PositiveIntegerField()
    tokens_out = models.PositiveIntegerField()
    cost = MoneyField()
    latency_ms = models.PositiveIntegerField()
    outcome = models.CharField(max_length=16)

    class Meta:
        verbose_name = "LLM call"
        indexes = [
            models.Index(fields=["ts", "id"], name="llmcall_ts"),
            models.Index(fields=["model", "ts"], name="llmcall_model_ts"),
            models.Index(fields=["agent", "ts"], name="llmcall_agent_ts"),
        ]

    def __str__(self) -> str:
        return f"{self.model} {self.agent} {self.ts:%Y-%m-%d %H:%M:%S}"
