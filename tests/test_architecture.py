"""Checks that keep the code base honest, run with every test run: the dependency rule bot → backend → nlp
(import-linter), lint and formatting (ruff), types (mypy strict) and dead code (vulture)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a tool of this virtualenv from the repository root."""
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_import_contracts_are_kept():
    result = run("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" in result.stdout and "0 broken" in result.stdout


def test_ruff_lint_is_clean():
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes():
    # Settings in pyproject.toml [tool.mypy]; the cache is the default .mypy_cache (about 30 s cold, seconds warm).
    # bench too: a benchmark's stand-in for an engine protocol must keep up with it.
    result = run("mypy", "nlp", "backend", "bot", "bench", timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vulture_finds_no_dead_code():
    # Paths, confidence (80) and the framework-called names it skips: pyproject.toml [tool.vulture].
    result = run("vulture")
    assert result.returncode == 0, result.stdout + result.stderr


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (module graphs are deep enough for recursion limits)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def test_no_import_cycles_among_our_modules():
    """Any import, at module level or inside a function, counts: a cycle means two modules cannot be understood
    (or moved) apart."""
    import grimp

    imports = grimp.build_graph("bot", "backend", "nlp")
    graph = {module: set(imports.find_modules_directly_imported_by(module)) for module in imports.modules}
    cycles = [sorted(c) for c in _strongly_connected(graph) if len(c) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" ⇄ ".join(c) for c in cycles)
