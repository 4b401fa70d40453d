"""Logging filters (set up in settings.LOGGING)."""

import logging
import time
from collections.abc import Callable


class RepeatsSuppressed(logging.Filter):
    """One record per message template and ``interval`` seconds; the next one let through says how many
    were held back. For failures logged again and again while a service is down: channels_redis's
    Pub/Sub receiver logs a traceback every second while Redis is away, and the publisher one per
    group and tick (25 ms) — the first says what happened, the count says how long it lasted."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.seen: dict[tuple[str, object], tuple[float, int]] = {}  # (logger, template) -> (last let through, held)

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = self.clock()
        last, held = self.seen.get(key, (None, 0))
        if last is not None and now - last < self.interval:
            self.seen[key] = (last, held + 1)
            return False
        self.seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {now - last:.0f} s, not logged]"
        return True
