"""Channels groups for events, and the one place that publishes to them.

Group names are built here and nowhere else (Channels allows letters, digits, ``.``, ``-``, ``_``
and fewer than 100 characters). Each event goes to ``events.all``, ``events.type.<type>`` and, when it
has one, ``events.run.<run_id>``; a subscriber joins exactly one kind, so it never sees an event twice.
"""

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from .publisher import Publisher

logger = logging.getLogger(__name__)

ALL_EVENTS_GROUP = "events.all"
MESSAGE_TYPE = "events.appended"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _safe(part: str) -> str:
    return _UNSAFE.sub("_", part)[:80]


def type_group(event_type: str) -> str:
    return f"events.type.{_safe(event_type)}"


def run_group(run_id: str) -> str:
    return f"events.run.{_safe(run_id)}"


def wallets_alerts_group() -> str:
    """Reconciliation results and drift alerts (the wallets app publishes here)."""
    return "wallets.alerts"


def groups_for(event: dict) -> list[str]:
    groups = [ALL_EVENTS_GROUP, type_group(event["type"])]
    if event.get("run_id"):
        groups.append(run_group(event["run_id"]))
    return groups


# --- the top bar (every page's socket joins HEADER_GROUP; see tradingops.consumers) ---------------
HEADER_GROUP = "runtime.header"
HEADER_MESSAGE_TYPE = "header.changed"
_header_providers: list[Callable[[], dict]] = []
_header_types: set[str] = set()


def register_header(provider: Callable[[], dict], *, types: Iterable[str]) -> None:
    """A higher app adds fields to the top bar: ``provider()`` returns them (plain JSON), and an
    event of one of ``types`` makes every open page receive the top bar again."""
    if provider not in _header_providers:
        _header_providers.append(provider)
    _header_types.update(types)


def header_state() -> dict:
    """What the top bar shows, the same for the page render and every socket frame."""
    state: dict = {}
    for provider in _header_providers:
        state.update(provider())
    return state


def header_frame() -> dict:
    return {"type": "header", **header_state()}


def _publish_header() -> None:
    try:
        group_send(HEADER_GROUP, {"type": HEADER_MESSAGE_TYPE, "header": header_state()})
    except Exception:
        logger.exception("publishing the top bar failed; pages get it again when their socket reconnects")


# --- the one way to send to Channels from sync code -----------------------------------------------
_publisher = Publisher()


def register_merge(message_type: str, merge: Callable[[dict, dict], dict | None]) -> None:
    """Say how two consecutive messages of this type to one group become one (None: keep both)."""
    _publisher.mergers[message_type] = merge


def group_send(group: str, message: dict, *, count: int = 1) -> None:
    """Send a message to a Channels group: every sender in the project goes through here.

    On Redis it is queued and sent within a tick (events.publisher), merged with its neighbours
    when their type registered a merger; the caller does not wait. On the in-memory layer (the
    embedded default, one process) it is sent at once: its queues belong to the caller's loop.
    ``count`` is how many events it carries, for the log if it fails.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        async_to_sync(layer.group_send)(group, message)
    else:
        _publisher.submit(layer, group, message, count)


def flush(timeout: float = Publisher.WAIT_SECONDS) -> None:
    """Wait until everything sent so far has left (tests, scripts about to exit)."""
    _publisher.flush(timeout)


def publish(frames: Sequence[dict]) -> None:
    """Send event frames (the REST representation) to their groups.

    Runs after commit. A failure is logged and loses nothing: the event is in the store, and
    clients catch up through the REST API from the last event they saw.
    """
    by_group: dict[str, list[dict]] = defaultdict(list)
    for frame in frames:
        for group in groups_for(frame):
            by_group[group].append(frame)
    try:
        for group, group_frames in by_group.items():
            group_send(group, {"type": MESSAGE_TYPE, "events": group_frames}, count=len(group_frames))
    except Exception:
        logger.exception("publishing %d events failed; they are stored and can be caught up", len(frames))
    if _header_types and any(frame["type"] in _header_types for frame in frames):
        _publish_header()


MAX_ITEMS_PER_MESSAGE = 500


def merge_lists(*keys: str, limit: int = MAX_ITEMS_PER_MESSAGE) -> Callable[[dict, dict], dict | None]:
    """A merger that concatenates these list fields when every other field is equal (same
    symbol, same run...), keeping each message under ``limit`` items per list."""

    def merge(first: dict, second: dict) -> dict | None:
        if any(len(first.get(k, [])) + len(second.get(k, [])) > limit for k in keys):
            return None
        others = (first.keys() | second.keys()) - set(keys)
        if any(first.get(k) != second.get(k) for k in others):
            return None
        return {**first, **{k: [*first.get(k, []), *second.get(k, [])] for k in keys}}

    return merge


register_merge(MESSAGE_TYPE, merge_lists("events"))
register_merge(HEADER_MESSAGE_TYPE, lambda first, second: second)  # the latest state is the state


# --- market data (market.feed publishes, market.consumers subscribes) -----------------------------
MARKET_MESSAGE_TYPE = "market.update"
register_merge(MARKET_MESSAGE_TYPE, merge_lists("ticks", "candles"))


def market_symbol_group(symbol: str) -> str:
    """Ticks and candle updates of one instrument."""
    return f"market.symbol.{_safe(symbol)}"


# --- backtests (backtests.services publishes progress, backtests.consumers subscribes) -------------
def backtest_run_group(run_id) -> str:
    """Progress and status of one backtest run."""
    return f"backtests.run.{_safe(str(run_id))}"
