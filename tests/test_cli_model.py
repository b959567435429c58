"""`gridbot retrain` and `gridbot model …` on a fresh database and a temporary model directory."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backend.settings import get_settings
from bot.main import cli
from nlp.modelfile import save_model
from nlp.modelstore import SHIPPED_DIR
from nlp.train import train_model
from tests.nlp.test_modelfile import INFO, _corpus


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    texts, labels = _corpus(1)
    model, _ = train_model(texts, labels, label_info=INFO)
    save_model(model, tmp_path / "models" / SHIPPED_DIR, metadata={"built_from": "custom"})
    with (tmp_path / "seed.csv").open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("label", "text"), *zip(labels, texts, strict=True)])
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GRIDBOT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRIDBOT_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_retrain_without_history_keeps_v1_and_says_why(env: Path) -> None:
    assert run("db", "upgrade")[0] == 0
    code, out = run("retrain", "--corpus", str(env / "seed.csv"))
    assert code == 1 and "no history to compare on" in out
    code, out = run("model", "list")
    assert code == 0 and "v1" in out and "*" in out
    assert not [p for p in (env / "models").rglob("*") if p.name.startswith(".tmp")]


def test_rollback_and_activate_refuse_clearly(env: Path) -> None:
    code, out = run("model", "rollback")
    assert code == 2 and "no earlier version" in out
    code, out = run("model", "activate", "v9")
    assert code == 2 and "cannot activate v9" in out
    code, out = run("model", "activate", "../default")
    assert code == 2 and "not a model version" in out
