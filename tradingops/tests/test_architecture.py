"""The architecture, held by tests instead of by discipline (docs/architecture.md).

Both checks read the source with ``ast``, not regular expressions, and import nothing they check:
- no module imports an app on a higher floor (or its sibling on the same floor), module level or
  inside a function; only the composition root wires apps together;
- every table is written only by its own app's projectors or services; the projected read models
  listed in ``PROJECTED`` only by the projectors. The exceptions are listed below with why.

What the write check sees: ``<Model>.objects...create/get_or_create/update_or_create/bulk_create/
bulk_update/update/delete()`` and a model (or its ``_meta.db_table``) passed to an insert, upsert or
COPY helper. It does not see ``instance.save()`` (the instance's type is not in the source) nor raw SQL
spelled as text; review those.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FLOORS = {"tradingops": 0, "events": 1, "market": 2, "wallets": 2, "agents": 3, "backtests": 4, "dashboard": 5}

# Modules that may import any app: they assemble the whole system, and nothing imports them back.
COMPOSITION_ROOT = {
    "tradingops/routing.py": "collects every app's WebSocket routes for tradingops/asgi.py",
    "tradingops/urls.py": "includes every app's URLs (by dotted string today)",
    "tradingops/embedded.py": "the one-process default runs the feed, beat and the first plan in the web process",
}
# The system tests exercise the whole stack, so they sit above every app.
COMPOSITION_ROOT_TESTS = "tradingops/tests/"

# Deliberate imports against the floors: (module, imported app) -> why. Keep it short.
IMPORT_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("tradingops/consumers.py", "events"): (
        "every page's socket also carries the top bar, so the consumer base every app extends joins "
        "events.realtime.HEADER_GROUP and sends its header_frame; the base would sit better in "
        "events/consumers.py, the lowest floor with consumers"
    ),
    ("events/tests/test_client_events.py", "agents"): (
        "proves that a fill posted to the events API by a client projects nothing into the agents' Fill "
        "and Position: the test of the events API has to look at the floor that projects fills"
    ),
}

WRITE_METHODS = {"create", "get_or_create", "update_or_create", "bulk_create", "bulk_update", "update", "delete"}

# Read models rebuilt from the log by ``rebuild_projections``: only their app's projectors write them.
PROJECTED = {
    "events.RunSummary",
    "events.RunEventCount",
    "events.LLMCall",
    "agents.StrategyPlan",
    "agents.Judgement",
    "agents.Intent",
    "agents.Order",
    "agents.Fill",
    "agents.Position",
    "agents.PositionSnapshot",
    "agents.Portfolio",
    "agents.Trade",
    "agents.EquityPoint",
    "agents.BlockEvent",
    "agents.BlockOutcome",
    "agents.BlockTally",
    "agents.RiskBudgetDay",
    "agents.RiskAllocation",
    "agents.AgentStatus",
}
# Every other model is written by its own app's projectors or services (``services.py`` or ``services/``),
# e.g. the Event table by events/services.py.
# The project package's own tables (floor 0 infrastructure) are each owned by the module that defines their use.
OWN_MODULES = {"tradingops": ("tradingops/",)}

# Deliberate writers outside the owner: (module, "app.Model") -> why.
WRITE_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("agents/execution.py", "agents.ExecutionStep"): (
        "the execution agent's audit row per processed candle, written in the candle's transaction under "
        "the advisory lock; its unique key is what makes a candle processed once"
    ),
    ("agents/execution.py", "agents.EngineCheckpoint"): (
        "the engine's state after the candle, versioned, in the same transaction as the candle's events "
        "(DESIGN §5: the live engine's state is a function of what is committed)"
    ),
    ("agents/execution.py", "agents.FlattenRequest"): (
        "an operator's flatten is queued by the flatten intent and consumed by the next candle, both "
        "inside the execution agent's locked transaction"
    ),
    ("agents/execution.py", "agents.RiskBudgetDay"): (
        "risk_claim creates the day's row (get_or_create, amounts untouched) so that it can lock it with "
        "select_for_update before deciding a claim; the amounts move only in agents/projectors.py"
    ),
    ("backtests/worker.py", "backtests.BacktestRun"): (
        "the worker side of a run's life (claim, heartbeat and progress, finish, reap): the services "
        "module of the worker, called only by backtests/tasks.py"
    ),
    **{
        ("backtests/results.py", f"backtests.{model}"): (
            "a finished run's results, stored by COPY in one go: a backtest's bars are not events"
        )
        for model in ("BacktestTrade", "BacktestBlock", "CurveChunk", "CurveOverview", "DailyReport")
    },
}


def _python_files(app: str, *, with_tests: bool = True) -> list[Path]:
    return sorted(
        p
        for p in (ROOT / app).rglob("*.py")
        if "migrations" not in p.parts and (with_tests or "tests" not in p.relative_to(ROOT).parts)
    )


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# --- import floors -------------------------------------------------------------------------------------
def upward_imports(source: str, app: str) -> list[tuple[int, str]]:
    """(line, imported app) for each import of an app above ``app``'s floor or beside it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            target = name.split(".")[0]
            if target in FLOORS and target != app and FLOORS[target] >= FLOORS[app]:
                found.append((node.lineno, target))
    return found


def test_the_floor_check_sees_module_and_function_level_imports():
    source = "from agents.models import Fill\ndef f():\n    import backtests.tasks\n    from events import emit\n"
    assert upward_imports(source, "market") == [(1, "agents"), (3, "backtests")]
    assert upward_imports("from wallets import services\n", "market") == [(1, "wallets")]
    assert upward_imports("from . import services\nfrom market import hooks\n", "agents") == []


def test_no_app_imports_a_higher_floor():
    violations = []
    for app in FLOORS:
        for path in _python_files(app):
            module = _rel(path)
            if module in COMPOSITION_ROOT or module.startswith(COMPOSITION_ROOT_TESTS):
                continue
            for line, target in upward_imports(path.read_text(), app):
                if (module, target) not in IMPORT_EXCEPTIONS:
                    violations.append(f"{module}:{line} imports {target} (floor {FLOORS[target]} >= {FLOORS[app]})")
    assert violations == [], "lower floors plug into higher ones through registries (docs/architecture.md)"


def test_the_composition_root_and_import_exceptions_still_exist():
    """A stale entry would hide the next real violation under its name."""
    for module in [*COMPOSITION_ROOT, *(m for m, _ in IMPORT_EXCEPTIONS)]:
        assert (ROOT / module).is_file(), module


# --- table writers ---------------------------------------------------------------------------------------
def _models() -> dict[str, set[str]]:
    """Model class names per app, read from each app's models.py."""
    found = {}
    for app in FLOORS:
        path = ROOT / app / "models.py"
        if path.is_file():
            found[app] = {node.name for node in ast.parse(path.read_text()).body if isinstance(node, ast.ClassDef)}
    return found


MODELS = _models()


@dataclass(frozen=True)
class Write:
    line: int
    model: str  # "app.Model"
    how: str


def _model_names(tree: ast.Module, app: str) -> tuple[dict[str, str], dict[str, str]]:
    """Names bound to models in a module ({local name: "app.Model"}) and to models modules ({name: app})."""
    names, modules = {}, {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level == 0 and node.module:
            base = node.module
        elif node.level == 1:
            base = f"{app}.{node.module}" if node.module else app
        else:
            continue
        owner = base.split(".")[0]
        for alias in node.names:
            local = alias.asname or alias.name
            if base == f"{owner}.models" and alias.name in MODELS.get(owner, ()):
                names[local] = f"{owner}.{alias.name}"
            elif base == owner and alias.name == "models" and owner in MODELS:
                modules[local] = owner
    return names, modules


def _model_of(node: ast.expr, names: dict[str, str], modules: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
        owner = modules[node.value.id]
        return f"{owner}.{node.attr}" if node.attr in MODELS[owner] else None
    return None


def writes(source: str, app: str) -> list[Write]:
    """The table writes in one module of ``app``."""
    tree = ast.parse(source)
    names, modules = _model_names(tree, app)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in WRITE_METHODS:
            # walk down the chain to its root: Model.objects.filter(...).select_for_update().update(...)
            inner, through_objects = func.value, False
            while isinstance(inner, ast.Attribute | ast.Call | ast.Subscript):
                if isinstance(inner, ast.Attribute) and inner.attr == "objects":
                    through_objects = True
                    model = _model_of(inner.value, names, modules)
                    if model:
                        found.append(Write(node.lineno, model, func.attr))
                    break
                inner = inner.func if isinstance(inner, ast.Call) else inner.value
            if through_objects:
                continue
        callee = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if any(word in callee.lower() for word in ("insert", "upsert", "copy")):
            for arg in node.args:
                target = arg
                # Model._meta.db_table
                if isinstance(target, ast.Attribute) and target.attr == "db_table":
                    target = target.value.value if isinstance(target.value, ast.Attribute) else target
                model = _model_of(target, names, modules)
                if model:
                    found.append(Write(node.lineno, model, callee))
    return found


def _owner_modules(model: str) -> tuple[str, ...]:
    app = model.split(".")[0]
    if model in PROJECTED:
        return (f"{app}/projectors.py",)
    return OWN_MODULES.get(app, (f"{app}/projectors.py", f"{app}/services.py", f"{app}/services/"))


def test_the_write_check_sees_orm_chains_and_bulk_helpers():
    source = (
        "from agents.models import Fill, Position as P\n"
        "from market import models as mm\n"
        "from .models import Wallet\n"
        "def f():\n"
        "    Fill.objects.create(qty=1)\n"
        "    P.objects.filter(symbol='x').select_for_update().update(qty=0)\n"
        "    mm.Candle.objects.bulk_create([])\n"
        "    upsert_increment(Wallet._meta.db_table, keys=())\n"
        "    Fill.objects.filter(qty=1).count()\n"
    )
    assert [(w.line, w.model, w.how) for w in writes(source, "wallets")] == [
        (5, "agents.Fill", "create"),
        (6, "agents.Position", "update"),
        (7, "market.Candle", "bulk_create"),
        (8, "wallets.Wallet", "upsert_increment"),
    ]


def test_the_listed_models_and_writers_still_exist():
    """A stale entry would hide the next real violation under its name."""
    every = {f"{app}.{name}" for app, names in MODELS.items() for name in names}
    assert not PROJECTED - every, PROJECTED - every
    for module, model in WRITE_EXCEPTIONS:
        assert model in every, model
        assert (ROOT / module).is_file(), module


def test_each_table_is_written_only_by_its_projector_or_service():
    violations, used_exceptions = [], set()
    for app in FLOORS:
        for path in _python_files(app, with_tests=False):
            module = _rel(path)
            for write in writes(path.read_text(), app):
                if module.startswith(_owner_modules(write.model)):
                    continue
                if (module, write.model) in WRITE_EXCEPTIONS:
                    used_exceptions.add((module, write.model))
                    continue
                violations.append(f"{module}:{write.line} {write.how}() on {write.model}")
    assert violations == [], "write through the owning projector or service (docs/architecture.md)"
    assert used_exceptions == set(WRITE_EXCEPTIONS), "remove the exceptions no code needs any more"
