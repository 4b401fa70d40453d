"""What the top bar shows on every page: the trading mode and the kill switch, read from the agents
app's runtime configuration (one primary-key query per page). static/js/live.js keeps them current
from ``runtime_changed`` events on any page whose socket carries them."""

from dataclasses import dataclass


@dataclass(frozen=True)
class RuntimeState:
    mode: str  # "paper" or "live"
    kill_switch: bool | None  # None would mean "unknown"; the runtime configuration always knows
    source: str  # where the values came from, shown as a tooltip


def runtime_state() -> RuntimeState:
    from agents.selectors import runtime_config_get

    config = runtime_config_get()
    changed = f", changed {config.updated_at:%Y-%m-%d %H:%M} UTC" if config.updated_at else ""
    by = f" by {config.updated_by}" if config.updated_by else ""
    return RuntimeState(mode=config.mode, kill_switch=config.kill_switch, source=f"runtime configuration{changed}{by}")
