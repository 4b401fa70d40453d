from django.db import models


class OutboxMessage(models.Model):
    """A Celery task to send, written in the transaction that makes it necessary (the transactional
    outbox): committed work is never orphaned by a broker that is down at commit time. Sent on
    commit when the broker answers; otherwise by ``tradingops.outbox.sweep`` (beat, and at
    every worker start) once it is back."""

    task = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["created_at"], name="outbox_pending", condition=models.Q(dispatched_at__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)}"


class IdempotencyRecord(models.Model):
    """What a POST with an ``Idempotency-Key`` made: written in the same transaction as the thing
    itself, so a retry (even a concurrent one) finds it and gets the same answer. Keys belong to a
    user and a scope (the endpoint); the fingerprint is the request body's, so the same key with
    another body is a conflict, not a silent replay."""

    scope = models.CharField(max_length=64)
    user_id = models.BigIntegerField()
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    resource = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "user_id", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
