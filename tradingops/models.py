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
