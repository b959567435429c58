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
    result = run("mypy", "nlp", "backend", "bot", timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr


def test_vulture_finds_no_dead_code():
    # Paths, confidence (80) and the framework-called names it skips: pyproject.toml [tool.vulture].
    result = run("vulture")
    assert result.returncode == 0, result.stdout + result.stderr
