"""A looping replay (the embedded demo) keeps time moving forward: across passes and restarts."""

from datetime import UTC, datetime, timedelta

import pytest

from market.models import Candle
from market.sources import build_source
from market.sources.replay import Dataset, ReplaySource

from .test_feed import hourly_file

START = datetime(2024, 10, 1, tzinfo=UTC)


def _bars(source: ReplaySource, n: int):
    bars = []
    for update in source.stream():
        if update is not None:
            bars.append(update)
        if len(bars) == n:
            return bars
    return bars


def test_a_looping_replay_shifts_each_pass_forward_by_whole_days(tmp_path):
    source = ReplaySource([Dataset("SOL-USDT", hourly_file(tmp_path, 30), "1h")], speed=0, loop=True)
    bars = _bars(source, 95)
    times = [b.open_time for b in bars]
    assert all(later > earlier for earlier, later in zip(times, times[1:], strict=False))
    # 30 hours of data: each pass starts two days (whole days: on every timeframe's grid) after the last
    assert times[30] == START + timedelta(days=2)
    assert times[60] == START + timedelta(days=4)
    assert (bars[30].open, bars[30].close) == (bars[0].open, bars[0].close)


def test_without_loop_the_replay_ends(tmp_path):
    source = ReplaySource([Dataset("SOL-USDT", hourly_file(tmp_path, 5), "1h")], speed=0)
    assert len(_bars(source, 100)) == 5


def test_a_restarted_looping_replay_carries_on_after_the_newest_stored_candle(tmp_path):
    stored_until = START + timedelta(days=4, hours=10)  # pass 3, its 11th bar
    source = ReplaySource(
        [Dataset("SOL-USDT", hourly_file(tmp_path, 30), "1h")], speed=0, loop=True, resume_after=stored_until
    )
    bars = _bars(source, 25)
    assert bars[0].open_time == stored_until + timedelta(hours=1)
    assert bars[0].open == 111  # the file's 12th row (open = 100 + hour)
    assert bars[19].open_time == START + timedelta(days=6)  # hours 11..29 of the pass, then the next pass


@pytest.mark.django_db
def test_the_configured_looping_replay_resumes_after_what_the_database_holds(instruments, settings):

    settings.MARKET_REPLAY_LOOP = True
    last = datetime(2031, 1, 1, 5, tzinfo=UTC)
    Candle.objects.create(
        instrument=instruments["SOL-USDT"], timeframe="1h", open_time=last, open=1, high=1, low=1, close=1, volume=1
    )
    source = build_source("replay", symbols=["SOL-USDT"])
    assert source.resume_after == last
    assert _bars(source, 1)[0].open_time > last
