"""Channels groups for events, and the one place that publishes to them.

Group names are built here and nowhere else (Channels allows letters, digits, ``.``, ``-``, ``_``
and fewer than 100 characters). Each event goes to ``events.all``, ``events.type.<type>`` and, when it
has one, ``events.run.<run_id>``; a subscriber joins exactly one kind, so it never sees an event twice.
"""

import asyncio
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
        message = {"type": HEADER_MESSAGE_TYPE, "header": header_state()}
        async_to_sync(get_channel_layer().group_send)(HEADER_GROUP, message)
    except Exception:
        logger.exception("publishing the top bar failed; pages get it again when their socket reconnects")


def publish(frames: Sequence[dict]) -> None:
    """Send event frames (the REST representation) to their groups, one message per group.

    Runs after commit. A failure is logged and loses nothing: the event is in the store, and
    clients catch up through the REST API from the last event they saw.
    """
    by_group: dict[str, list[dict]] = defaultdict(list)
    for frame in frames:
        for group in groups_for(frame):
            by_group[group].append(frame)
    try:
        layer = get_channel_layer()
        if isinstance(layer, InMemoryChannelLayer):  # its queues belong to the caller's event loop
            async_to_sync(_send_all)(layer, by_group)
        else:  # Redis: sent in order by one long-lived loop, off this thread (see events.publisher)
            _publisher.submit(layer, by_group, len(frames))
    except Exception:
        logger.exception("publishing %d events failed; they are stored and can be caught up", len(frames))
    if _header_types and any(frame["type"] in _header_types for frame in frames):
        _publish_header()


async def _send_all(layer, by_group: dict[str, list[dict]]) -> None:
    await asyncio.gather(
        *(layer.group_send(group, {"type": MESSAGE_TYPE, "events": frames}) for group, frames in by_group.items())
    )


_publisher = Publisher(lambda frames: {"type": MESSAGE_TYPE, "events": frames})


# --- market data (market.feed publishes, market.consumers subscribes) -----------------------------
MARKET_MESSAGE_TYPE = "market.update"


def market_symbol_group(symbol: str) -> str:
    """Ticks and candle updates of one instrument."""
    return f"market.symbol.{_safe(symbol)}"


# --- backtests (backtests.services publishes progress, backtests.consumers subscribes) -------------
def backtest_run_group(run_id) -> str:
    """Progress and status of one backtest run."""
    return f"backtests.run.{_safe(str(run_id))}"
