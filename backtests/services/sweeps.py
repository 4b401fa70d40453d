"""Sweeps: one run per valid combination of a preset's parameter grid, enqueued as one Celery group."""

from __future__ import annotations

from django.db import transaction

from ..config import grid_combinations
from ..models import BacktestRun, Sweep
from .runs import _default_name, _enqueue, validated


def sweep_create(*, data: dict, grid, metric: str, name: str | None = None, user=None) -> Sweep:
    """One run per valid grid combination, enqueued as one Celery group on commit."""
    attrs = validated(data)
    config = attrs["_config"]
    valid, skipped = grid_combinations(config, grid)
    total = 1
    for values in grid.values():
        total *= len(values)
    candles = attrs["_resolved"].candles
    owner = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
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
        _enqueue([r.pk for r in runs])
    return sweep
