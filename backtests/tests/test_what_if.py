"""What-if on one risk rule: a completed run rerun once per value of one limit (a sweep on the
backtests queue), each value's equity beside its blocks scorecard and their change from the base run."""

from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from backtests import services
from backtests.models import BacktestRun, Sweep

from .conftest import OPEN_LIMITS, sma_config
from .test_api import URL, finished_run

CAPPED = {**OPEN_LIMITS, "max_trades_per_day": 1}
STRATEGY = {"preset": "sma_cross", "params": {"fast": 5, "slow": 15}}


@pytest.fixture
def base(sol_candles):
    """One trade a day on the shipped candles: the cap blocks entries whose shadows close."""
    run = finished_run(risk=CAPPED, strategy=STRATEGY)
    assert run.status == "completed"
    assert run.results["blocks"] > 0
    return run


def test_a_what_if_reruns_the_run_per_value_and_shows_the_scorecard_beside_the_equity(
    base, client_for, tasks_in_process, django_capture_on_commit_callbacks
):
    operator = client_for("operator")
    with django_capture_on_commit_callbacks(execute=True):  # the runs go to the (in-process) backtests queue
        response = operator.post(
            f"{URL}/{base.pk}/what-if", {"rule": "max_trades_per_day", "values": [3, None]}, format="json"
        )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["rule"] == "max_trades_per_day"
    assert [r["value"] for r in created["runs"]] == [3, None]

    listed = client_for("viewer").get(f"{URL}/{base.pk}/what-if").json()["results"]
    assert [t["id"] for t in listed] == [created["id"]]
    table = listed[0]
    assert table["finished"] is True
    card = base.results["block_scorecard"]["total"]
    assert table["base"]["value"] == 1
    assert Decimal(table["base"]["final_equity"]) == Decimal(base.results["final_equity"])
    assert table["base"]["blocks"] == base.results["blocks"]
    assert Decimal(table["base"]["net"]) == Decimal(card["net"])

    # each value's run is the run one would have started with that limit
    three = finished_run(risk={**CAPPED, "max_trades_per_day": 3}, strategy=STRATEGY)
    rows = {r["value"]: r for r in table["runs"]}
    assert rows[3]["status"] == "completed"
    assert Decimal(rows[3]["final_equity"]) == Decimal(three.results["final_equity"])
    assert rows[3]["trades"] == three.results["trades"]
    assert rows[3]["blocks"] == three.results["blocks"]
    assert Decimal(rows[3]["net"]) == Decimal(three.results["block_scorecard"]["total"]["net"])
    for row in rows.values():
        change = row["change"]
        assert Decimal(change["final_equity"]) == Decimal(row["final_equity"]) - Decimal(table["base"]["final_equity"])
        assert Decimal(change["net"]) == Decimal(row["net"]) - Decimal(table["base"]["net"])
        assert change["blocks"] == row["blocks"] - table["base"]["blocks"]
        assert change["trades"] == row["trades"] - table["base"]["trades"]
    # a looser cap blocks less; switched off, the cap blocks nothing
    assert rows[3]["change"]["blocks"] < 0
    assert rows[None]["blocks"] == 0
    assert rows[None]["closed"] == 0
    assert Decimal(rows[None]["change"]["net"]) == -Decimal(card["net"])  # no block left to save or forgo
    assert rows[None]["trades"] > table["base"]["trades"]
    sweep = Sweep.objects.get(pk=created["id"])
    assert sweep.base_run_id == base.pk
    assert sweep.grid == {"risk.max_trades_per_day": [3, None]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": "max_trades_per_week", "values": [2]}, "rule"),
        ({"rule": "max_trades_per_day", "values": []}, "values"),
        ({"rule": "max_trades_per_day", "values": ["many"]}, "values"),
        ({"rule": "max_trades_per_day", "values": [0]}, "values"),  # a cap of zero could never trade
        ({"rule": "max_trades_per_day", "values": [{"a": 1}]}, "values"),
        ({"rule": "max_trades_per_day", "values": list(range(1, 30))}, "values"),
        ({"values": [2]}, "rule"),
        ({"rule": "max_trades_per_day", "values": [2], "extra": 1}, "extra"),
    ],
)
def test_a_bad_what_if_is_refused_naming_the_field_and_writes_nothing(base, client_for, body, field):
    response = client_for("operator").post(f"{URL}/{base.pk}/what-if", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Sweep.objects.exists()
    assert BacktestRun.objects.count() == 1


def test_a_what_if_needs_a_completed_run_and_an_operator(sol_candles, base, client_for):

    queued = services.backtest_run_create(data=sma_config())
    body = {"rule": "max_trades_per_day", "values": [2]}
    conflict = client_for("operator").post(f"{URL}/{queued.pk}/what-if", body, format="json")
    assert conflict.status_code == 409
    assert "status" in conflict.json()
    assert client_for("viewer").post(f"{URL}/{base.pk}/what-if", body, format="json").status_code == 403
    missing = "00000000-0000-0000-0000-000000000000"
    assert client_for("operator").post(f"{URL}/{missing}/what-if", body, format="json").status_code == 404
    assert not Sweep.objects.exists()


def test_the_management_command_runs_the_what_if_here_and_prints_the_table(base):
    out = StringIO()
    call_command("backtest_what_if", str(base.pk), "--rule", "max_trades_per_day", "--values", "2", "null", stdout=out)
    sweep = Sweep.objects.get(base_run=base)
    assert sorted(r.status for r in sweep.runs.all()) == ["completed", "completed"]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"what-if {sweep.pk}: max_trades_per_day")
    assert lines[2].startswith("base\tcompleted\t")
    assert [line.split("\t")[0] for line in lines[3:]] == ["2", "null"]
    relaxed = sweep.runs.get(params={"max_trades_per_day": None})
    assert relaxed.results["final_equity"] in lines[4]
