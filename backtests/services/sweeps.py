"""Sweeps: one run per valid combination of a preset's parameter grid, each sent through the outbox."""

from __future__ import annotations

from django.db import transaction

from events.services import emit
from tradingops.idempotency import Idempotency
from tradingops.idempotency import claim as idempotency_claim
from tradingops.idempotency import complete as idempotency_complete
from tradingops.roles import user_source

from .. import config as cfg
from ..models import BacktestRun, Sweep
from .runs import _default_name, dispatch_on_commit, validated


def sweep_create(
    *, data: dict, grid, metric: str, name: str | None = None, user=None, idempotency: Idempotency | None = None
) -> Sweep:
    """One run per valid grid combination, sent to the workers on commit; one
    ``backtest_sweep_requested`` event names who asked (not one per run: a sweep may hold thousands).
    With an ``idempotency`` key seen before it raises :class:`~tradingops.idempotency.Replay`."""
    attrs = validated(data)
    config = attrs["_config"]
    valid, skipped = cfg.grid_combinations(config, grid)
    total = 1
    for values in grid.values():
        total *= len(values)
    candles = attrs["_resolved"].candles
    owner = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        idempotency_claim(idempotency)
        sweep = Sweep.objects.create(
            name=name or f"sweep {_default_name(config)}",
            base_config=config,
            grid=grid,
            metric=metric,
            combinations=total,
            skipped=skipped,
            created_by=owner,
        )
        runs = [
            BacktestRun(
                name=_default_name({**config, "strategy": {**config["strategy"], "params": params}}),
                config={**config, "strategy": {**config["strategy"], "params": params}},
                candles_total=candles,
                created_by=owner,
                sweep=sweep,
                params=params,
            )
            for params in valid
        ]
        BacktestRun.objects.bulk_create(runs, batch_size=1000)
        emit(
            "backtest_sweep_requested",
            {"sweep_id": str(sweep.pk), "name": sweep.name, "metric": metric, "combinations": total,
             "runs": len(runs), "skipped": len(skipped)},
            source=user_source(user),
            correlation_id=sweep.pk,
            dedupe_key=f"backtest_sweep:{sweep.pk}:requested",
        )  # fmt: skip
        dispatch_on_commit(runs)
        idempotency_complete(idempotency, sweep.pk)
    return sweep
