"""The two figures of issue 14 (the house a newcomer can carry on), so that anyone can re-measure them.

Run from the repository root (no database needed):

    .venv/bin/python bench/house.py            # both figures
    .venv/bin/python bench/house.py --list     # and every place counted

1. ``duplicates`` pairs outside migrations and URL/serializer boilerplate: the rows of
   ``duplicates --most 200`` (the library's command; it must be on PATH) less those with a side under
   ``migrations/`` and those whose both sides are ``urls.py``/``serializers.py`` files.
2. Function-level first-party imports outside ``ready()``: ``import``/``from ... import`` statements of a
   project app (or relative) inside a function body, other than an ``AppConfig.ready()``, in every
   tracked ``.py`` file (tests, bench and conftest included; migrations left out).
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = {"tradingops", "events", "market", "wallets", "agents", "backtests", "dashboard", "bench", "conftest"}
BOILERPLATE_FILES = {"urls.py", "serializers.py"}


def duplicate_pairs() -> list[str]:
    out = subprocess.run(
        ["duplicates", "--most", "200", "--seconds", "120"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    kept = []
    for line in out.splitlines():
        if not line.startswith("D"):
            continue
        left, right = line.split(" ", 1)[1].split(" ~ ")
        sides = [left.split(":")[0], right.split()[0].split(":")[0]]
        if any("/migrations/" in side for side in sides):
            continue
        if all(Path(side).name in BOILERPLATE_FILES for side in sides):
            continue
        kept.append(line)
    return kept


def _first_party(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return node.level > 0 or (node.module or "").split(".")[0] in FIRST_PARTY
    return any(alias.name.split(".")[0] in FIRST_PARTY for alias in node.names)


def function_level_imports() -> list[str]:
    tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    places = []
    for name in tracked.stdout.split():
        if "/migrations/" in name:
            continue
        tree = ast.parse((ROOT / name).read_text(), filename=name)
        places.extend(f"{name}:{line}" for line in _imports_in_functions(tree))
    return places


def _imports_in_functions(tree: ast.AST) -> list[int]:
    lines: list[int] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, function or child.name)
            elif isinstance(child, ast.Import | ast.ImportFrom):
                if function is not None and function != "ready" and _first_party(child):
                    lines.append(child.lineno)
            else:
                visit(child, function)

    visit(tree, None)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every place counted")
    args = parser.parse_args()
    pairs = duplicate_pairs()
    imports = function_level_imports()
    if args.list:
        print("\n".join(pairs))
        print("\n".join(imports))
    print(f"duplicates pairs outside migrations and URL/serializer boilerplate: {len(pairs)}")
    app_code = [place for place in imports if not _is_test_or_bench(place)]
    print(
        f"function-level first-party imports outside ready(): {len(imports)} "
        f"({len(app_code)} in app code, {len(imports) - len(app_code)} in tests, bench and conftest)"
    )


def _is_test_or_bench(place: str) -> bool:
    return "/tests/" in place or place.startswith(("bench/", "conftest.py"))


if __name__ == "__main__":
    main()
