"""The rules of the house, checked on the source: no two modules import each other (also through
imports inside functions), and modules and functions stay small (docs/architecture in README)."""

from __future__ import annotations

import ast
from pathlib import Path

from vehiclekit.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "vehiclekit"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80
#: Units over the limits when the rule was written, each to be split (issue 29); the test fails
#: when one grows past its recorded size, when a new one appears, or when one is fixed but still listed.
KNOWN_LARGE = {
    "vehiclekit/serving/repository.py:build_repository": 86,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that ``path`` imports anywhere in its body (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def known(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {known(a.name) for a in node.names if a.name.startswith("vehiclekit")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.startswith("vehiclekit"):
                found |= {known(f"{base}.{a.name}") if f"{base}.{a.name}" in modules else known(base) for a in node.names}
    return found - {None, name}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected parts with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while not part or part[-1] != v:
                part.append(stack.pop())
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_in_the_package():
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph = {module_name(f): imported_modules(f, modules) for f in files}
    assert sum(map(len, graph.values())) > 200            # the walk sees the package's imports
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_modules_and_functions_stay_small():
    sizes = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        text, rel = path.read_text(), path.relative_to(REPO_ROOT).as_posix()
        if text.count("\n") > MAX_MODULE_LINES:
            sizes[rel] = text.count("\n")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    sizes[f"{rel}:{node.name}"] = length
    new = {unit: n for unit, n in sizes.items() if unit not in KNOWN_LARGE}
    grown = {unit: n for unit, n in sizes.items() if unit in KNOWN_LARGE and n > KNOWN_LARGE[unit]}
    fixed = sorted(set(KNOWN_LARGE) - set(sizes))
    assert not new, f"over {MAX_MODULE_LINES} lines a module / {MAX_FUNCTION_LINES} a function: {new}; split them"
    assert not grown, f"known large units grew: {grown}"
    assert not fixed, f"now within the limits, remove from KNOWN_LARGE: {fixed}"


#: Rooms and the rooms they must not import (imports run one way; docs: README, "What is in the box").
FORBIDDEN = {
    "vehiclekit.models": ("vehiclekit.sdk", "vehiclekit.video", "vehiclekit.apps", "vehiclekit.serving",
                          "vehiclekit.training"),
    "vehiclekit.sdk": ("vehiclekit.video", "vehiclekit.apps", "vehiclekit.serving", "vehiclekit.training"),
    "vehiclekit.video": ("vehiclekit.apps", "vehiclekit.serving", "vehiclekit.training"),
    "vehiclekit.apps": ("vehiclekit.serving", "vehiclekit.training"),
    "vehiclekit.serving": ("vehiclekit.apps", "vehiclekit.video", "vehiclekit.training"),
    "vehiclekit.commands": ("vehiclekit.training",),
}


def test_imports_run_one_way_between_the_rooms():
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    upward = []
    for path in files:
        name = module_name(path)
        for room, forbidden in FORBIDDEN.items():
            if name == room or name.startswith(room + "."):
                upward += [f"{name} -> {d}" for d in imported_modules(path, modules) if d.startswith(forbidden)]
    assert upward == []
    video = [p for p in files if module_name(p).startswith("vehiclekit.video")]
    assert len(video) >= 6 and not [p.name for p in video if "argparse" in p.read_text()]    # a library, no command line
    apps = [p for p in files if module_name(p).startswith("vehiclekit.apps")]
    assert len(apps) >= 10 and not [p.name for p in apps if "argparse" in p.read_text()]    # commands: vehiclekit.commands
