"""Risk limits and the pre-trade checks: each blocks exactly at its boundary, in one fixed order."""

import math
from decimal import Decimal

import pytest

from agents.engine.errors import ConfigError
from agents.engine.reasons import REASONS, Block
from agents.engine.risk import CHECKS, OrderRequest, Position, RiskLimits, RiskState, active_checks, check_order

OPEN = {"daily_risk_budget": None, "risk_per_trade": None, "max_trades_per_day": None}
OPEN |= {
    "max_trades_per_symbol_per_day": None,
    "max_open_positions": None,
    "min_notional": 0,
    "max_cost_to_reward": None,
}
OPEN |= {"fee_rate": 0.0, "slippage_bps": 0.0}


def limits(**overrides) -> RiskLimits:
    return RiskLimits(**(OPEN | overrides))


def order(qty=1.0, price=100.0, stop=None, target=None, side="long", symbol="SOLUSDT") -> OrderRequest:
    return OrderRequest(symbol, side, qty, price, stop, target)


def state(**kw) -> RiskState:
    st = RiskState(cash=kw.pop("cash", 10_000.0))
    st.roll_day(kw.pop("day", 20_000), kw.pop("day_start_equity", 10_000.0))
    for key, value in kw.items():
        setattr(st, key, value)
    return st


def check(st, od, lim, **ctx):
    ctx.setdefault("now_ts", 1_000_000)
    return check_order(st, od, lim, **ctx)


def position(symbol="BTCUSDT", risk=0.0, day=20_000, qty=1.0, price=100.0) -> Position:
    return Position(symbol, "long", qty, price, 0.0, None, None, risk, 0, day, 1)


def test_nothing_blocks_an_ordinary_order_under_open_limits():
    assert check(state(), order(), limits()) is None


def test_kill_switch_blocks_as_infra():
    block = check(state(kill_switch=True), order(), limits())
    assert block == Block("kill_switch", {"kill_switch": True})
    assert block.reason_class == "infra"
    assert check(state(kill_switch=False), order(), limits()) is None


def test_live_mode_blocks_until_confirmed_and_paper_never():
    assert check(state(), order(), limits(), mode="live", live_confirmed=False).reason == "live_mode_not_confirmed"
    assert check(state(), order(), limits(), mode="live", live_confirmed=True) is None
    assert check(state(), order(), limits(), mode="paper", live_confirmed=False) is None


def test_stale_market_data_blocks_one_second_past_the_allowed_age():
    lim = limits(max_data_age_s=120)
    assert check(state(), order(), lim, now_ts=1120, data_ts=1000) is None
    block = check(state(), order(), lim, now_ts=1121, data_ts=1000)
    assert block == Block("stale_market_data", {"age_s": 121, "max_data_age_s": 120})
    assert block.reason_class == "quality_gate"


def test_stop_on_the_wrong_side_or_undefined_is_refused():
    lim = limits()
    assert check(state(), order(stop=99.99), lim) is None
    assert check(state(), order(stop=100.0), lim) == Block(
        "invalid_stop", {"stop": 100.0, "entry": 100.0, "side": "long"}
    )
    assert check(state(), order(stop=math.nan), lim).reason == "invalid_stop"
    assert check(state(), order(stop=100.01, side="short"), lim) is None
    assert check(state(), order(stop=99.0, side="short"), lim).reason == "invalid_stop"
    assert check(state(), order(target=100.0), lim).reason == "invalid_target"
    assert check(state(), order(target=99.0, side="short"), lim) is None


def test_cooldown_blocks_until_the_second_it_ends():
    lim = limits(cooldown_after_loss_s=600)
    st = state(last_loss_ts=1000)
    assert check(st, order(), lim, now_ts=1599) == Block(
        "cooldown", {"last_loss_ts": 1000, "cooldown_s": 600, "seconds_left": 1}
    )
    assert check(st, order(), lim, now_ts=1600) is None
    assert check(state(), order(), lim, now_ts=1599) is None  # no loss yet


def test_daily_trade_cap_blocks_the_trade_after_the_last_allowed():
    lim = limits(max_trades_per_day=3)
    assert check(state(trades_today=2), order(), lim) is None
    assert check(state(trades_today=3), order(), lim) == Block(
        "daily_trade_cap", {"trades_today": 3, "max_trades_per_day": 3}
    )


def test_symbol_trade_cap_counts_only_that_symbol():
    lim = limits(max_trades_per_symbol_per_day=2)
    assert check(state(trades_today_by_symbol={"SOLUSDT": 1, "BTCUSDT": 5}), order(), lim) is None
    assert check(state(trades_today_by_symbol={"SOLUSDT": 2}), order(), lim) == Block(
        "symbol_trade_cap", {"trades_today_symbol": 2, "max_trades_per_symbol_per_day": 2}
    )


def test_max_positions_counts_open_positions_and_pending_entries():
    lim = limits(max_open_positions=2)
    assert check(state(positions={"BTCUSDT": position()}), order(), lim) is None
    blocked = state(positions={"BTCUSDT": position()}, pending_claims={"ETHUSDT": 5.0})
    assert check(blocked, order(), lim) == Block("max_positions", {"open_positions": 2, "max_open_positions": 2})


def test_min_notional_blocks_below_and_passes_at_the_minimum():
    lim = limits(min_notional=10.0)
    assert check(state(), order(qty=0.5, price=20.0), lim) is None  # exactly 10
    assert check(state(), order(qty=0.25, price=39.5), lim) == Block(
        "min_notional", {"qty": 0.25, "notional": 9.875, "min_notional": 10.0}
    )
    assert check(state(), order(qty=0.0), limits(min_notional=0)).reason == "min_notional"


def test_cost_gate_blocks_when_round_trip_costs_exceed_the_allowed_share_of_the_gain():
    # fee 1/16 each side: cost (100 + 108) / 16 = 13 per unit; reward 8; ratio 1.625
    assert check(state(), order(target=108.0), limits(fee_rate=0.0625, max_cost_to_reward=1.625)) is None
    block = check(state(), order(target=108.0), limits(fee_rate=0.0625, max_cost_to_reward=1.5))
    assert block == Block(
        "cost_gate", {"cost_per_unit": 13.0, "reward_per_unit": 8.0, "cost_to_reward": 1.625, "max_cost_to_reward": 1.5}
    )
    assert block.reason_class == "quality_gate"
    assert check(state(), order(), limits(fee_rate=0.0625, max_cost_to_reward=0.1)) is None  # no target, no gate


def test_trade_risk_limit_compares_stop_risk_with_equity():
    lim = limits(risk_per_trade=0.25)
    # equity 10,000 -> 2,500 allowed; qty 100 * (100 - 75) = 2,500
    assert check(state(), order(qty=100.0, stop=75.0), lim) is None
    assert check(state(), order(qty=101.0, stop=75.0), lim) == Block(
        "trade_risk_limit", {"trade_risk": 2525.0, "allowed": 2500.0, "equity": 10_000.0, "risk_per_trade": 0.25}
    )
    # without a stop the whole notional is at risk
    assert check(state(), order(qty=25.5, price=100.0), lim).detail["trade_risk"] == 2550.0


def test_risk_budget_counts_used_and_claimed_risk_of_today_only():
    lim = limits(daily_risk_budget=0.5)  # 5,000 of the day's 10,000
    today = state(risk_used_today=1000.0, positions={"BTCUSDT": position(risk=2000.0)}, pending_claims={"ETH": 1000.0})
    assert check(today, order(qty=10.0, stop=0.0), lim) is None  # 1000 + 3000 + 1000 = 5000
    assert check(today, order(qty=10.5, stop=0.0), lim) == Block(
        "risk_budget_exhausted",
        {"budget": 5000.0, "claimed": 3000.0, "used": 1000.0, "trade_risk": 1050.0, "available": 1000.0},
    )
    old_claim = state(positions={"BTCUSDT": position(risk=4500.0, day=19_999)})
    assert check(old_claim, order(qty=50.0, stop=0.0), lim) is None  # yesterday's claim has expired


def test_insufficient_cash_includes_the_fee():
    lim = limits(fee_rate=0.0625)
    assert check(state(cash=10_625.0), order(qty=100.0), lim) is None  # 10,000 + 625 fee
    assert check(state(cash=10_624.5), order(qty=100.0), lim) == Block(
        "insufficient_cash", {"cash": 10_624.5, "needed": 10_625.0, "notional": 10_000.0, "fee_rate": 0.0625}
    )


def test_checks_run_in_one_fixed_order_and_the_first_refusal_wins():
    lim = limits(
        max_data_age_s=60,
        cooldown_after_loss_s=600,
        max_trades_per_day=1,
        max_trades_per_symbol_per_day=1,
        max_open_positions=1,
        min_notional=1_000_000.0,
        max_cost_to_reward=0.01,
        risk_per_trade=0.001,
        daily_risk_budget=0.001,
        fee_rate=0.01,
    )
    st = state(
        cash=1.0,
        day_start_equity=500.0,
        kill_switch=True,
        last_loss_ts=999_900,
        trades_today=1,
        trades_today_by_symbol={"SOLUSDT": 1},
        positions={"BTCUSDT": position()},
    )
    bad = order(qty=1.0, price=100.0, stop=100.5, target=101.0)
    ctx = {"now_ts": 1_000_000, "data_ts": 0, "mode": "live", "live_confirmed": False}
    seen = []
    fixes = [
        lambda: setattr(st, "kill_switch", False),
        lambda: ctx.update(live_confirmed=True),
        lambda: ctx.update(data_ts=1_000_000),
        None,  # levels: fixed by changing the order below
        lambda: setattr(st, "last_loss_ts", None),
        lambda: setattr(st, "trades_today", 0),
        lambda: setattr(st, "trades_today_by_symbol", {}),
        lambda: setattr(st, "positions", {}),
        None,  # min_notional
        None,  # cost gate
        None,  # trade risk
        None,  # budget
        None,  # cash
    ]
    orders = {3: order(qty=1.0, price=100.0, stop=99.0, target=101.0)}
    for step in range(len(CHECKS)):
        block = check_order(st, bad, lim, **ctx)
        seen.append(block.reason)
        if fixes[step] is not None:
            fixes[step]()
        elif step == 3:
            bad = orders[3]
        elif step == 8:
            lim = RiskLimits(**(lim.__dict__ | {"min_notional": 0.0}))
        elif step == 9:
            lim = RiskLimits(**(lim.__dict__ | {"max_cost_to_reward": None}))
        elif step == 10:
            lim = RiskLimits(**(lim.__dict__ | {"risk_per_trade": None}))
        elif step == 11:
            lim = RiskLimits(**(lim.__dict__ | {"daily_risk_budget": None}))
        elif step == 12:
            st.cash = 1_000.0
    assert seen == [
        "kill_switch",
        "live_mode_not_confirmed",
        "stale_market_data",
        "invalid_stop",
        "cooldown",
        "daily_trade_cap",
        "symbol_trade_cap",
        "max_positions",
        "min_notional",
        "cost_gate",
        "trade_risk_limit",
        "risk_budget_exhausted",
        "insufficient_cash",
    ]
    assert check_order(st, bad, lim, **ctx) is None


def test_every_reason_has_one_of_the_three_classes():
    assert {r.reason_class for r in REASONS.values()} == {"infra", "quality_gate", "risk_valid"}
    for code in ("kill_switch", "daily_trade_cap", "risk_budget_exhausted", "insufficient_cash", "min_notional"):
        assert code in REASONS
    for code in ("cost_gate", "cooldown", "max_positions", "stale_market_data", "live_mode_not_confirmed"):
        assert code in REASONS
    with pytest.raises(ValueError, match="unknown block reason"):
        Block("made_up")


def test_block_payload_has_decimal_strings():
    block = Block("min_notional", {"qty": 0.25, "notional": 9.875, "min_notional": 10.0})
    assert block.payload() == {
        "reason": "min_notional",
        "reason_class": "risk_valid",
        "message": "the order is smaller than the minimum notional",
        "detail": {"qty": "0.25", "notional": "9.875", "min_notional": "10.0"},
    }


def test_per_trade_risk_above_the_daily_budget_is_refused_naming_the_field():
    with pytest.raises(ConfigError) as caught:
        RiskLimits.from_mapping({"daily_risk_budget": "0.02", "risk_per_trade": "0.03"})
    assert caught.value.errors == {"risk_per_trade": "risk per trade (0.03) cannot exceed the daily risk budget (0.02)"}


def test_symbol_cap_above_the_daily_cap_is_refused_naming_the_field():
    with pytest.raises(ConfigError) as caught:
        RiskLimits.from_mapping({"max_trades_per_day": 3, "max_trades_per_symbol_per_day": 4})
    assert list(caught.value.errors) == ["max_trades_per_symbol_per_day"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"daily_risk_budget": "abc"}, "daily_risk_budget"),
        ({"daily_risk_budget": -0.01}, "daily_risk_budget"),
        ({"risk_per_trade": 1.5}, "risk_per_trade"),
        ({"max_trades_per_day": 2.5}, "max_trades_per_day"),
        ({"max_open_positions": -1}, "max_open_positions"),
        ({"max_trades_per_day": 100_001}, "max_trades_per_day"),
        ({"min_notional": -1}, "min_notional"),
        ({"fee_rate": 0.2}, "fee_rate"),
        ({"slippage_bps": -1}, "slippage_bps"),
        ({"cooldown_after_loss_s": -5}, "cooldown_after_loss_s"),
        ({"fee_rate": None}, "fee_rate"),
        ({"leverage": 3}, "leverage"),
        ({"max_trades_per_day": True}, "max_trades_per_day"),
        ({"daily_risk_budget": "NaN"}, "daily_risk_budget"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(data, field):
    with pytest.raises(ConfigError) as caught:
        RiskLimits.from_mapping(data)
    assert field in caught.value.errors


def test_limits_from_strings_and_decimals_become_numbers():

    lim = RiskLimits.from_mapping(
        {"daily_risk_budget": Decimal("0.05"), "max_trades_per_day": "7", "fee_rate": "0.002"}
    )
    assert (lim.daily_risk_budget, lim.max_trades_per_day, lim.fee_rate) == (0.05, 7, 0.002)
    assert lim.risk_per_trade == 0.01  # default kept


def test_a_losing_exit_counts_against_the_budget_and_starts_the_cooldown():
    st = state()
    st.claim("SOLUSDT", 150.0)
    assert (st.trades_today, st.risk_open_today, st.open_count) == (1, 150.0, 1)
    st.open_position(Position("SOLUSDT", "long", 1.0, 100.0, 0.1, 90.0, None, 150.0, 5, 20_000, 1), -100.1, 0.1)
    assert (st.cash, st.risk_open_today, st.open_count, st.trades_today) == (9899.9, 150.0, 1, 1)
    st.close_position("SOLUSDT", 95.0 - 0.1, 0.1, -5.2, ts=777)
    assert (st.risk_open_today, st.risk_used_today, st.last_loss_ts) == (0.0, 5.2, 777)
    st.roll_day(20_001, 9_999.0)
    assert (st.trades_today, st.risk_used_today, st.day_start_equity) == (0, 0.0, 9_999.0)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("max_trades_per_day", "daily_trade_cap"),
        ("max_trades_per_symbol_per_day", "symbol_trade_cap"),
        ("max_open_positions", "max_positions"),
        ("risk_per_trade", "trade_risk_limit"),
        ("daily_risk_budget", "risk_budget_exhausted"),
    ],
)
def test_a_limit_of_zero_means_zero_never_no_limit(name, reason):
    """``max_trades_per_day: 0`` used to mean "unlimited"; 0 now refuses every entry, None switches it off."""

    base = {"daily_risk_budget": None, "risk_per_trade": None, "max_trades_per_day": None,
            "max_trades_per_symbol_per_day": None, "max_open_positions": None, "min_notional": 0}  # fmt: skip
    state = RiskState(cash=10_000.0)
    state.roll_day(0, 10_000.0)
    order = OrderRequest("SOLUSDT", "long", 1.0, 100.0, stop=95.0)
    off = RiskLimits.from_mapping(base)
    assert check_order(state, order, off, now_ts=60, checks=active_checks(off, "paper")) is None
    zero = RiskLimits.from_mapping({**base, name: 0})
    block = check_order(state, order, zero, now_ts=60, checks=active_checks(zero, "paper"))
    assert block is not None
    assert block.reason == reason
