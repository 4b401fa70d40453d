"""Fan-out that holds without hand batching: one seam (events.realtime.group_send), coalescing
consecutive messages per group per tick."""

import asyncio
import re
from pathlib import Path

from channels.layers import get_channel_layer

from events import realtime
from events.publisher import Publisher

ROOT = Path(__file__).resolve().parents[2]


def _events(*ids):
    return {"type": realtime.MESSAGE_TYPE, "events": [{"id": i} for i in ids]}


def test_consecutive_event_messages_of_a_group_become_one_in_order():
    publisher = Publisher({realtime.MESSAGE_TYPE: realtime.merge_lists("events")})
    layer = object()
    items = [(layer, "g1", _events(n), 1) for n in range(200)] + [(layer, "g2", _events(1000), 1)]
    coalesced = publisher.coalesce(items)
    assert [(group, len(queue)) for (_, group), queue in coalesced.items()] == [("g1", 1), ("g2", 1)]
    (_, message, count), *_ = coalesced[(id(layer), "g1")]
    assert [e["id"] for e in message["events"]] == list(range(200))
    assert count == 200


def test_messages_that_cannot_merge_keep_their_place_and_lists_stay_bounded():
    merge = realtime.merge_lists("ticks", "candles", limit=3)
    publisher = Publisher({"market.update": merge})
    layer = object()

    def market(symbol, n):
        return {"type": "market.update", "symbol": symbol, "ticks": [n], "candles": []}

    items = [(layer, "m", market("SOL", 1), 1), (layer, "m", market("SOL", 2), 1), (layer, "m", {"type": "other"}, 0)]
    items += [(layer, "m", market("SOL", n), 1) for n in range(3, 8)] + [(layer, "m", market("BTC", 9), 1)]
    queue = publisher.coalesce(items)[(id(layer), "m")]
    assert [(m["type"], m.get("symbol"), m.get("ticks")) for _, m, _ in queue] == [
        ("market.update", "SOL", [1, 2]),
        ("other", None, None),
        ("market.update", "SOL", [3, 4, 5]),
        ("market.update", "SOL", [6, 7]),
        ("market.update", "BTC", [9]),
    ]


def test_the_header_keeps_only_its_latest_state():
    publisher = Publisher({realtime.HEADER_MESSAGE_TYPE: lambda first, second: second})
    layer = object()
    states = [{"type": realtime.HEADER_MESSAGE_TYPE, "header": {"kill_switch": on}} for on in (True, False, True)]
    queue = publisher.coalesce([(layer, realtime.HEADER_GROUP, s, 0) for s in states])[
        (id(layer), realtime.HEADER_GROUP)
    ]
    assert [m["header"] for _, m, _ in queue] == [{"kill_switch": True}]


def test_one_send_per_tick_reaches_the_redis_layer_with_every_event(settings):
    layer = get_channel_layer()

    async def run():
        channel = await layer.new_channel()
        await layer.group_add("fanout-test", channel)
        for n in range(100):  # a sync caller, as emit's on-commit hook is
            await asyncio.to_thread(realtime.group_send, "fanout-test", _events(n), count=1)
        await asyncio.to_thread(realtime.flush)
        received = []
        while len(received) < 100:
            message = await asyncio.wait_for(layer.receive(channel), 5)
            received.extend(e["id"] for e in message["events"])
        await layer.group_discard("fanout-test", channel)
        return received

    assert asyncio.run(run()) == list(range(100))


def test_nothing_sends_to_channels_but_the_seam():
    """Four ways to send (one opening a Redis connection per call) became one."""
    offenders = []
    for path in sorted(ROOT.glob("*/**/*.py")):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in (".venv", "bench", "node_modules") or "tests" in relative.parts:
            continue
        if relative.as_posix() in ("events/realtime.py", "events/publisher.py"):
            continue
        if re.search(r"(?<!realtime)\.group_send\(", path.read_text(encoding="utf-8")):
            offenders.append(relative.as_posix())
    assert offenders == []
