"""What-if on one risk rule: rerun a completed backtest with one risk limit relaxed or tightened,
once per value, as a sweep (the same runs, Celery group and worker as any sweep), so that each
value's block scorecard can be put beside its equity (``backtests.selectors.what_if_table``)."""

from __future__ import annotations

from django.db import transaction

from events.services import emit
from tradingops.errors import Invalid
from tradingops.roles import user_source

from .. import config as cfg
from ..models import BacktestRun, RunStatus, Sweep
from .runs import RunStateError, dispatch_on_commit

MAX_WHAT_IF_VALUES = 20


def _messages(errors) -> list[str]:
    """Every message of a (nested) DRF error, flattened: a value's errors name the value, not the path."""
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in _messages(value)]
    if isinstance(errors, list):
        return [m for value in errors for m in _messages(value)]
    return [str(errors)]


def what_if_create(*, run_id, rule: str, values: list, user=None, enqueue: bool = True) -> Sweep:
    """One queued run per value of risk limit ``rule`` over the completed run's config.

    Refused by name: ``rule`` not a risk limit, ``values`` empty, too many, or a value the config
    refuses (``values.<i>``); :class:`RunStateError` (409) when the run has not completed.
    ``enqueue=False`` leaves the runs queued for the caller to execute (the management command)."""
    base = BacktestRun.objects.get(pk=run_id)
    if rule not in cfg.RISK_FIELDS:
        raise Invalid({"rule": [f"no risk limit {rule!r}: one of {', '.join(cfg.RISK_FIELDS)}"]})
    if not isinstance(values, list) or not values:
        raise Invalid({"values": ["give a non-empty list of values for the limit"]})
    if len(values) > MAX_WHAT_IF_VALUES:
        raise Invalid({"values": [f"{len(values)} values: at most {MAX_WHAT_IF_VALUES} per what-if"]})
    if base.status != RunStatus.COMPLETED:
        raise RunStateError(base, f"the run is {base.status}: a what-if compares with a completed run's results")
    unique = []
    for value in values:
        if value not in unique:
            unique.append(value)
    runs, errors = [], {}
    for i, value in enumerate(unique):
        data = {**base.config, "risk": {**base.config.get("risk", {}), rule: value}}
        serializer = cfg.BacktestConfigSerializer(data=data)
        if not serializer.is_valid():
            errors[str(i)] = _messages(serializer.errors)
            continue
        attrs = serializer.validated_data
        runs.append(
            BacktestRun(
                name=f"{base.name} | {rule}={value}"[:200],
                config=attrs["_config"],
                candles_total=attrs["_resolved"].candles,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                params={rule: value},
            )
        )
    if errors:
        raise Invalid({"values": errors})
    with transaction.atomic():
        sweep = Sweep.objects.create(
            name=f"what-if {rule} of {base.name}"[:200],
            base_config=base.config,
            grid={f"risk.{rule}": unique},
            metric="final_equity",
            combinations=len(unique),
            created_by=runs[0].created_by,
            base_run=base,
            rule=rule,
        )
        for run in runs:
            run.sweep = sweep
        BacktestRun.objects.bulk_create(runs)
        emit(
            "backtest_sweep_requested",
            {"sweep_id": str(sweep.pk), "name": sweep.name, "metric": sweep.metric, "combinations": len(unique),
             "runs": len(runs), "skipped": 0},
            source=user_source(user),
            correlation_id=sweep.pk,
            dedupe_key=f"backtest_sweep:{sweep.pk}:requested",
        )  # fmt: skip
        if enqueue:
            dispatch_on_commit(runs)
    return sweep
