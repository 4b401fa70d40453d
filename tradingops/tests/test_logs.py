"""A failure logged every second while Redis is down reaches the log once a minute, with a count."""

import logging

import pytest
from django.conf import settings

from tradingops.logs import RepeatsSuppressed


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _record(msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("channels_redis.pubsub", logging.ERROR, __file__, 1, msg, args, None)


def test_repeats_are_held_back_for_the_interval_then_counted():
    clock = Clock()
    repeats = RepeatsSuppressed(interval=60, clock=clock)
    assert repeats.filter(_record("Unexpected exception in receive task"))
    for _ in range(59):
        clock.now += 1
        assert not repeats.filter(_record("Unexpected exception in receive task"))
    assert repeats.filter(_record("another failure"))  # counted per message template
    clock.now += 1
    summary = _record("Unexpected exception in receive task")
    assert repeats.filter(summary)
    held = "[59 more like this in the last 60 s, not logged]"
    assert summary.getMessage() == f"Unexpected exception in receive task {held}"
    clock.now += 61
    again = _record("publishing %d events failed (group %s)", 3, "events.all")
    assert repeats.filter(again)
    assert again.getMessage() == "publishing 3 events failed (group events.all)"


@pytest.mark.parametrize("name", ["channels_redis.pubsub", "events.realtime"])
def test_the_settings_hold_back_the_loggers_that_repeat_during_an_outage(name):
    """Held back once a minute in production (tradingops.settings); the test settings let every record
    through (tests assert on failures logged a moment earlier), so here the filter is checked in place."""
    # one, or more where a test configured logging again (dictConfig adds a logger's filters to those it has)
    attached = [f for f in logging.getLogger(name).filters if isinstance(f, RepeatsSuppressed)]
    assert attached
    for repeats in attached:
        assert repeats.interval == settings.LOGGING["filters"]["repeats"]["interval"] == 0.0
        assert repeats.filter(_record("x"))
        assert repeats.filter(_record("x"))
