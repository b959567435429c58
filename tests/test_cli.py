"""The gridbot CLI end to end on a fresh SQLite file: migrate, load the demo city, admin, imports, SLA job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backend.settings import PROJECT_ROOT, get_settings
from bot.main import cli


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRIDBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("GRIDBOT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GRIDBOT_MODEL_DIR", str(PROJECT_ROOT / "var" / "test-models"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_upgrade_load_demo_admin_and_sla_tick(env):
    assert run("db", "upgrade")[0] == 0
    code, out = run("load-demo", "--no-history")
    assert code == 0 and "115 areas" in out.replace("\n", " ")
    code, out = run("create-admin", "--code", "boss", "--password", "s3cret-pass")
    assert code == 0 and "boss" in out
    code, out = run("sla-tick")
    assert code == 0 and "checked=0" in out


def test_import_grids_rejects_bad_geojson_naming_the_culprit(env):
    run("db", "upgrade")
    bad = env / "bad.geojson"
    city = json.loads((PROJECT_ROOT / "config" / "demo_city.geojson").read_text(encoding="utf-8"))
    city["features"][5]["properties"]["parent"] = "NOPE"
    bad.write_text(json.dumps(city, ensure_ascii=False), encoding="utf-8")
    code, out = run("import-grids", str(bad))
    flat = out.replace("\n", "")
    assert code == 2
    assert "bad.geojson" in flat and "NOPE" in flat


def test_import_staff_from_csv(env):
    run("db", "upgrade")
    run("load-demo", "--no-history")
    code, out = run("import-staff", str(PROJECT_ROOT / "config" / "staff.csv"))
    assert code == 0 and "125 staff" in out.replace("\n", " ")


def test_load_demo_writes_a_history_once(env):
    run("db", "upgrade")
    code, out = run("load-demo", "--days", "4")
    flat = out.replace("\n", " ")
    assert code == 0 and "history:" in flat and "tickets" in flat, out
    code, out = run("load-demo", "--days", "4")
    assert code == 0 and "history skipped" in out.replace("\n", " ")
    code, out = run("sla-tick")
    assert code == 0 and "checked=0" not in out


def test_the_served_app_keeps_its_start_up_heap_out_of_the_collectors_sight(env):
    import os
    import subprocess
    import sys

    assert run("db", "upgrade")[0] == 0
    # A process of its own: a frozen heap would stay frozen in the test process.
    probe = "import gc; from bot.app import serve_app; serve_app(); print(gc.get_freeze_count())"
    result = subprocess.run(
        [sys.executable, "-c", probe], env=dict(os.environ), capture_output=True, text=True, timeout=120, check=True
    )
    assert int(result.stdout.strip().splitlines()[-1]) > 100_000  # the model, the city, the mappers


def test_a_settled_heap_holds_the_parsed_text_catalogue() -> None:
    import subprocess
    import sys

    # `process` and `worker` build no web app (which parses the catalogue): settling the heap parses it, so
    # their first turn or notice does not, and the parsed texts are frozen with the rest.
    probe = (
        "from backend.texts import catalogue; from bot.app import settle_heap; "
        "before = catalogue.cache_info().currsize; settle_heap(); print(before, catalogue.cache_info().currsize)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.split() == ["0", "1"]


def test_train_hands_the_seed_prior_and_lexicon_options_on(env, monkeypatch):
    models = env / "models"
    monkeypatch.setenv("GRIDBOT_MODEL_DIR", str(models))
    get_settings.cache_clear()
    tree = env / "tree.csv"
    tree.write_text("level1,level2\n城乡建设,路灯照明\n劳动和社会保障,工资福利\n", encoding="utf-8")
    data = env / "data.csv"
    rows = [("城乡建设", f"{place}的路灯坏了好几天") for place in ("幸福里", "建设路", "和谐家园", "天伦小区")]
    rows += [("劳动和社会保障", f"{firm}拖欠工资三个月") for firm in ("某公司", "工地老板", "饭店", "物流公司")]
    data.write_text("label,text\n" + "".join(f"{label},{text}\n" for label, text in rows), encoding="utf-8")
    label_map = PROJECT_ROOT / "config" / "label_maps" / "taidi2020c.yaml"
    code, out = run(
        "train", "--data", str(data), "--lexicon", str(tree), "--seed-prior", str(label_map), "--out", str(models / "m")
    )
    flat = out.replace("\n", " ")
    assert code == 0, out
    assert "lexicon of 2 groups" in flat and "seed-corpus messages as prior" in flat
    meta = json.loads((models / "m" / "meta.json").read_text(encoding="utf-8"))
    assert meta["lexicon_source"] == str(tree)
