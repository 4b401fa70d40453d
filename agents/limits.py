"""The runtime configuration as the engine's ``RiskLimits``: one set of rules validates both."""

from django.core.exceptions import ValidationError

from .engine.errors import ConfigError
from .engine.risk import RiskLimits

# engine field -> runtime configuration field, where the names differ
_FIELD_NAMES = {"cooldown_after_loss_s": "cooldown_after_loss_minutes"}


def limits_from_config(config, *, apply_multiplier: bool = True) -> RiskLimits:
    """The multiplier scales the per-trade risk (never above the daily budget)."""
    risk_per_trade = config.risk_per_trade
    if apply_multiplier:
        risk_per_trade = min(risk_per_trade * config.risk_multiplier, config.daily_risk_budget)
    try:
        return RiskLimits.from_mapping(
            {
                "daily_risk_budget": config.daily_risk_budget,
                "risk_per_trade": risk_per_trade,
                "max_trades_per_day": config.max_trades_per_day or None,
                "max_trades_per_symbol_per_day": config.max_trades_per_symbol_per_day or None,
                "max_open_positions": config.max_open_positions or None,
                "min_notional": config.min_notional,
                "cooldown_after_loss_s": config.cooldown_after_loss_minutes * 60,
                "fee_rate": config.fee_rate,
                "slippage_bps": config.slippage_bps,
            }
        )
    except ConfigError as exc:
        raise ValidationError({_FIELD_NAMES.get(name, name): message for name, message in exc.errors.items()}) from None
