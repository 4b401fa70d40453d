"""The live broker behind one interface: ``submit(order) -> list[FillReport]``.

The exchange broker places, polls and cancels through ccxt; it is used only in live mode. Paper
trading has no broker: ``agents.execution`` books the engine's own fills (the fill model of
``engine.fills``, as in backtests) and settles them on the paper exchange.
"""

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import ccxt
from django.conf import settings


@dataclass(frozen=True)
class OrderTicket:
    order_id: str
    symbol: str
    side: str  # buy | sell
    qty: Decimal
    reference_price: Decimal


@dataclass(frozen=True)
class FillReport:
    fill_id: str
    price: Decimal
    qty: Decimal
    fee: Decimal


class Broker(Protocol):
    def submit(self, ticket: OrderTicket) -> list[FillReport]: ...


class ExchangeBroker:
    """Market orders on a ccxt exchange: place, then poll until filled or the deadline, else cancel."""

    def __init__(self, exchange=None, *, poll_seconds: float = 0.5, deadline_seconds: float = 20.0):

        self.exchange = exchange or getattr(ccxt, settings.EXCHANGE_ID)(
            {"apiKey": settings.EXCHANGE_API_KEY, "secret": settings.EXCHANGE_API_SECRET, "enableRateLimit": True}
        )
        self.poll_seconds = poll_seconds
        self.deadline_seconds = deadline_seconds

    def submit(self, ticket: OrderTicket) -> list[FillReport]:

        market = ticket.symbol.replace("-", "/")
        order = self.exchange.create_order(
            market, "market", ticket.side, float(ticket.qty), params={"clientOrderId": ticket.order_id}
        )
        deadline = time.monotonic() + self.deadline_seconds
        while order.get("status") not in ("closed", "canceled") and time.monotonic() < deadline:
            time.sleep(self.poll_seconds)
            order = self.exchange.fetch_order(order["id"], market)
        if order.get("status") != "closed":
            self.exchange.cancel_order(order["id"], market)
            if not order.get("filled"):
                return []
        fee = (order.get("fee") or {}).get("cost") or 0
        return [
            FillReport(
                fill_id=str(order["id"]),
                price=Decimal(str(order.get("average") or order.get("price"))),
                qty=Decimal(str(order.get("filled"))),
                fee=Decimal(str(fee)),
            )
        ]


def broker_for(config) -> Broker:
    """The broker for ``config``'s mode; only live mode sends orders (see the module docstring)."""
    if config.mode != "live":
        raise ValueError(f"no broker in {config.mode} mode: paper fills come from the engine's fill model")
    return ExchangeBroker()
