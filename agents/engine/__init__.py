"""The decision core shared by live trading and backtests: plain Python + numpy, no Django.

Rules (:mod:`.rules`), block reasons (:mod:`.reasons`), risk limits and checks (:mod:`.risk`),
sizing (:mod:`.sizing`), the fill model (:mod:`.fills`), plans and presets (:mod:`.strategy`,
:mod:`.presets`), the state machine (:mod:`.machine`) driven over a history (:mod:`.runner`) or
one candle at a time (:mod:`.step`). Nothing here may import Django: a test holds it to that.
"""

from .bars import Bars, Candle
from .errors import ConfigError
from .machine import Decision, Machine, Trade
from .presets import PRESETS, breakout, build_preset, rsi_reversion, sma_cross
from .reasons import REASONS, Block
from .risk import OrderRequest, RiskLimits, RiskState, check_order
from .rules import Rule, RuleError, parse_rule
from .runner import BacktestResult, run_backtest
from .sizing import Instrument, Sizing, size_order
from .step import LiveEngine
from .strategy import Plan, SymbolPlan

__all__ = [
    "PRESETS",
    "REASONS",
    "BacktestResult",
    "Bars",
    "Block",
    "Candle",
    "ConfigError",
    "Decision",
    "Instrument",
    "LiveEngine",
    "Machine",
    "OrderRequest",
    "Plan",
    "RiskLimits",
    "RiskState",
    "Rule",
    "RuleError",
    "Sizing",
    "SymbolPlan",
    "Trade",
    "breakout",
    "build_preset",
    "check_order",
    "parse_rule",
    "rsi_reversion",
    "run_backtest",
    "size_order",
    "sma_cross",
]
