"""What the top bar shows on every page: the trading mode and the kill switch.

HOOK for the agents app: once it has a runtime-configuration selector, make ``runtime_state`` read
it (one query, or a cached value) and return ``kill_switch`` as True/False. Until then the mode is
the ``TRADING_MODE`` setting and the kill switch is ``None`` ("not available"), never a guess.
"""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class RuntimeState:
    mode: str  # "paper" or "live"
    kill_switch: bool | None  # None: no runtime control yet, so the page says "unknown"
    source: str  # where the values came from, shown as a tooltip


def runtime_state() -> RuntimeState:
    return RuntimeState(mode=settings.TRADING_MODE, kill_switch=None, source="TRADING_MODE setting")
