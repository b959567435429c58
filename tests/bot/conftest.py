"""Bot test collection: a transcript limited to some channels is not generated for the others."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (rather than skip) transcript runs on drivers the transcript does not apply to."""
    keep, drop = [], []
    cache: dict[Path, list[str] | None] = {}
    for item in items:
        spec = getattr(item, "callspec", None)
        path, channel = (spec.params.get("path"), spec.params.get("driver")) if spec else (None, None)
        if item.originalname == "test_transcript" and isinstance(path, Path) and channel:
            if path not in cache:
                cache[path] = yaml.safe_load(path.read_text(encoding="utf-8")).get("only_channels")
            only = cache[path]
            if only is not None and channel not in only:
                drop.append(item)
                continue
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
