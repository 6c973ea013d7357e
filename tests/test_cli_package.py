"""The CLI package's layout holds: no import cycle among its modules (imports inside functions count), no
command imports the entry point, every command of the table is a module with its name, help, arguments
and run, and a run imports only the module of the command it runs."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import modelwise
from modelwise.cli.commands import COMMANDS

SRC = Path(modelwise.__file__).parent
HEAVY = (
    "modelwise.service", "pydantic", "textual", "fastapi", "uvicorn", "matplotlib", "sqlite3", "argparse",
)


def module_files(root: Path = SRC) -> dict[str, Path]:
    """Every module of the modelwise package by dotted name (a package by its __init__.py)."""
    out = {}
    for path in root.rglob("*.py"):
        parts = ["modelwise", *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The modelwise modules `name` imports anywhere in its file (top level, functions, TYPE_CHECKING),
    as import-linter counts them: `from a.b import c` is a.b.c when that is a module, else a.b."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert "modelwise.cli.render" in graph["modelwise.cli.commands.route"]  # imported inside run()
    assert "modelwise.cli.commands.route" in graph["modelwise.cli.entry"]  # inside fast_route_args()
    assert "modelwise.cli.output" in graph["modelwise.cli.commands.registry"]


def test_no_import_cycle_touches_the_cli():
    touching = [c for c in cycles(import_graph()) if any(m.startswith("modelwise.cli") for m in c)]
    assert touching == []


def test_no_cycle_between_siblings_in_the_cli():
    """As the `acyclic` import contract counts them: a module stands for its ancestor that is a child of
    the package (`cli.commands.route -> cli.options` is `cli.commands -> cli.options` inside `cli`)."""
    graph = import_graph()
    for package in ("modelwise.cli", "modelwise.cli.commands"):
        def child(m: str, package: str = package) -> str | None:
            if not m.startswith(package + "."):
                return None
            return package + "." + m[len(package) + 1:].split(".")[0]

        siblings: dict[str, set[str]] = {}
        for m, deps in graph.items():
            a = child(m)
            if a is not None:
                siblings.setdefault(a, set()).update(b for d in deps if (b := child(d)) not in (None, a))
        assert cycles(siblings) == [], package


def test_only_the_package_imports_the_entry_point():
    graph = import_graph()
    importers = sorted(m for m, deps in graph.items() if "modelwise.cli.entry" in deps)
    assert importers == ["modelwise.cli"]
    # ...and nothing inside the CLI imports the package itself (which re-exports the entry point)
    inside = sorted(
        m for m, deps in graph.items() if m.startswith("modelwise.cli.") and "modelwise.cli" in deps
    )
    assert inside == []
    outside = sorted(
        m for m, deps in graph.items()
        if not m.startswith("modelwise.cli") and any(d.startswith("modelwise.cli") for d in deps)
    )
    assert outside == ["modelwise.__main__"]


def test_the_table_lists_every_command_module():
    files = {p.stem for p in (SRC / "cli" / "commands").glob("*.py")} - {"__init__"}
    assert files == set(COMMANDS)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_command_module_declares_name_help_arguments_and_run(name):
    module = importlib.import_module(f"modelwise.cli.commands.{name}")
    assert module.NAME == name
    assert module.HELP == COMMANDS[name]
    assert callable(module.add_arguments) and callable(module.run)


def _imported_after(code: str, cli_env: dict[str, str]) -> list[str]:
    probe = (
        "import contextlib, io, sys\n"
        f"{code}\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('modelwise.cli.commands.')"
        f" or m in {HEAVY!r})))"
    )
    env = {**os.environ, **cli_env}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_command_modules_are_light_to_import(cli_env):
    code = "".join(f"import modelwise.cli.commands.{name}\n" for name in COMMANDS)
    assert _imported_after(code, cli_env) == sorted(f"modelwise.cli.commands.{n}" for n in COMMANDS)


def test_the_top_level_help_imports_no_command(cli_env):
    code = (
        "from modelwise.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])"
    )
    assert _imported_after(code, cli_env) == ["argparse"]


def test_a_command_imports_only_its_own_module(cli_env):
    code = (
        "from modelwise.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['locate', '--json']) == 0"
    )
    commands = [m for m in _imported_after(code, cli_env) if m.startswith("modelwise.cli.commands.")]
    assert commands == ["modelwise.cli.commands.locate"]
