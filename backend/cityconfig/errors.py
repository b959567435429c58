"""ConfigError: a configuration problem that names the file, the entry and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError


class ConfigError(Exception):
    """A bad configuration file; str() reads like `config/taxonomy.yaml: entry 'x': problem`."""

    def __init__(self, file: str | Path, entry: str | None, problem: str) -> None:
        self.file = display_path(file) if isinstance(file, Path) else file
        self.entry = entry
        self.problem = problem
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.entry is None:
            return f"{self.file}: {self.problem}"
        return f"{self.file}: entry '{self.entry}': {self.problem}"

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str, str | None, str]]:
        return (ConfigError, (self.file, self.entry, self.problem))


def display_path(path: Path) -> str:
    """The path relative to the working directory when it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def describe_validation_error(exc: ValidationError) -> str:
    """The pydantic problems in words, unknown fields first (a typo also shows up as a missing field)."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    return "; ".join(_describe(err) for err in errors[:3])


def _describe(err: Any) -> str:
    where = ".".join(str(part) for part in err["loc"])
    kind = err["type"]
    if kind == "missing":
        return f"missing field '{where}'"
    if kind == "extra_forbidden":
        return f"unknown field '{where}'"
    prefix = f"field '{where}'" if where else "value"
    return f"{prefix}: {err['msg']} (got {err.get('input')!r})"
