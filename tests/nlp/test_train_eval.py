"""Training and evaluation through the CLI on a small synthetic corpus, and the shipped-model builder."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nlp.cli import DEFAULT_CONFIG_DIR, app, build_default_model, ensure_default_model
from nlp.modelfile import META_FILE, load_model, read_meta

# Obviously separable classes; labels are real subcategory codes so the taxonomy gives departments.
PHRASES = {
    "garbage_piling": ["垃圾桶满了好几天没人清运", "生活垃圾堆在路边发臭招苍蝇", "垃圾站的垃圾一直没拉走"],
    "street_lights": ["路灯晚上不亮", "路灯坏了路上一片漆黑", "灯杆歪了路灯一闪一闪"],
    "water_supply": ["家里突然停水了也没通知", "自来水发黄有铁锈味", "水压太低高层没水用"],
    "wage_arrears": ["老板拖欠工资三个月不发", "工地欠我们农民工工钱", "公司一直拖着不给发工资"],
}
PLACES = ["阳光花园小区", "锦绣苑", "建设路88号", "丰产路社区", ""]
ENDINGS = ["，请尽快处理", "，谢谢", "！！", "，希望有关部门管一管", ""]
# The dataset's own labels, as an outside dataset would name them, mapped to our departments.
SOURCE_LABELS = {
    "garbage_piling": "市容",
    "street_lights": "路灯",
    "water_supply": "供水",
    "wage_arrears": "欠薪",
}
LABEL_MAP = {
    "市容": "urban_management",
    "路灯": "urban_management",
    "供水": "utilities",
    "欠薪": "labour_social_security",
}

runner = CliRunner()


def write_corpus(path: Path, *, seed: int, per_class: int = 15, label_names: dict[str, str] | None = None) -> Path:
    """A CSV with columns label,title,text of templated messages."""
    rnd = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["label", "title", "text"])
        for label, phrases in PHRASES.items():
            for _ in range(per_class):
                writer.writerow(
                    [
                        (label_names or {}).get(label, label),
                        rnd.choice(["反映问题", "投诉", ""]),
                        f"{rnd.choice(PLACES)}{rnd.choice(phrases)}{rnd.choice(ENDINGS)}",
                    ]
                )
    return path


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def test_train_with_cv_writes_model_and_metrics_with_mean_and_std(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "train.csv", seed=1)
    out = invoke(
        "train",
        "--data",
        str(data),
        "--text-cols",
        "title,text",
        "--label-col",
        "label",
        "--cv",
        "3",
        "--out",
        str(tmp_path / "models" / "m"),
        "--metrics-out",
        str(tmp_path / "m.json"),
    )
    metrics = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= metrics.keys()
    assert set(metrics["per_class"]) == set(PHRASES)
    assert {"precision", "recall", "f1", "support"} <= metrics["per_class"]["street_lights"].keys()
    cv = metrics["cv"]
    assert cv["folds"] == 3 and len(cv["per_fold"]) == 3
    for key in ("accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std"):
        assert 0.0 <= cv[key] <= 1.0
    assert cv["macro_f1_mean"] >= 0.9  # separable by construction
    calibration = metrics["calibration"]
    assert 0.0 <= calibration["ece"] <= 1.0 and calibration["n"] == metrics["n_evaluated"]
    assert sum(b["n"] for b in calibration["bins"]) == calibration["n"]
    assert "street_lights" in out and "macro-F1" in out
    meta = json.loads((tmp_path / "models" / "m" / META_FILE).read_text(encoding="utf-8"))
    assert meta["labels"] == sorted(PHRASES)
    assert meta["metrics"]["cv"]["folds"] == 3


def test_eval_with_label_map_scores_departments_on_held_out_data(tmp_path: Path) -> None:
    models = tmp_path / "models"
    invoke(
        "train",
        "--data",
        str(write_corpus(tmp_path / "train.csv", seed=1)),
        "--text-cols",
        "title,text",
        "--out",
        str(models / "m"),
    )
    test_data = write_corpus(tmp_path / "test.csv", seed=7, per_class=10, label_names=SOURCE_LABELS)
    label_map = tmp_path / "map.csv"
    pd.DataFrame({"source_label": list(LABEL_MAP), "target_label": list(LABEL_MAP.values())}).to_csv(
        label_map, index=False
    )
    invoke(
        "eval",
        "--model",
        str(models / "m"),
        "--model-root",
        str(models),
        "--data",
        str(test_data),
        "--text-cols",
        "title,text",
        "--label-col",
        "label",
        "--label-map",
        str(label_map),
        "--metrics-out",
        str(tmp_path / "e.json"),
        "--plot",
        str(tmp_path / "cm.png"),
    )
    metrics = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert metrics["level"] == "department"
    assert set(metrics["per_class"]) == {"urban_management", "utilities", "labour_social_security"}
    assert metrics["per_class"]["urban_management"]["support"] == 20
    assert metrics["accuracy"] >= 0.9
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"


def test_label_map_restricts_predictions_to_mapped_classes(tmp_path: Path) -> None:
    models = tmp_path / "models"
    invoke("train", "--data", str(write_corpus(tmp_path / "train.csv", seed=1)), "--out", str(models / "m"))
    # Wage complaints mapped to a department the map offers next to utilities only: every prediction
    # must be one of the two mapped departments, never urban_management or the unmapped rows' labels.
    label_map = tmp_path / "map.csv"
    label_map.write_text("source_label,target_label\n欠薪,labour_social_security\n供水,utilities\n", encoding="utf-8")
    test_data = write_corpus(tmp_path / "test.csv", seed=3, per_class=5, label_names=SOURCE_LABELS)
    invoke(
        "eval",
        "--model",
        str(models / "m"),
        "--model-root",
        str(models),
        "--data",
        str(test_data),
        "--label-map",
        str(label_map),
        "--metrics-out",
        str(tmp_path / "e.json"),
    )
    metrics = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert set(metrics["confusion_matrix"]["labels"]) == {"labour_social_security", "utilities"}
    assert metrics["unmapped_rows"] == 10


def test_train_reads_xlsx_and_extra_data(tmp_path: Path) -> None:
    main = pd.read_csv(write_corpus(tmp_path / "a.csv", seed=1, per_class=8))
    main.to_excel(tmp_path / "a.xlsx", index=False)
    extra = tmp_path / "corrections.csv"
    extra.write_text("label,text\n" + "street_lights,小区路灯又不亮了\n" * 3, encoding="utf-8")
    invoke(
        "train",
        "--data",
        str(tmp_path / "a.xlsx"),
        "--text-cols",
        "title,text",
        "--extra-data",
        str(extra),
        "--out",
        str(tmp_path / "models" / "m"),
        "--metrics-out",
        str(tmp_path / "m.json"),
    )
    metrics = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert metrics["n_samples"] == 4 * 8 + 3


def test_eval_refuses_a_model_outside_the_model_root(tmp_path: Path) -> None:
    invoke(
        "train",
        "--data",
        str(write_corpus(tmp_path / "train.csv", seed=1, per_class=6)),
        "--out",
        str(tmp_path / "stray" / "m"),
    )
    result = runner.invoke(
        app,
        [
            "eval",
            "--model",
            str(tmp_path / "stray" / "m"),
            "--model-root",
            str(tmp_path / "models"),
            "--data",
            str(tmp_path / "train.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "outside" in result.output


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    config = tmp_path / "config"
    config.mkdir()
    for name in ("taxonomy.yaml", "responsibilities.yaml", "departments.yaml"):
        shutil.copy(DEFAULT_CONFIG_DIR / name, config / name)
    (config / "seed_corpus").mkdir()
    frame = pd.read_csv(write_corpus(tmp_path / "seed.csv", seed=5, per_class=8))
    frame[["label", "text"]].to_csv(config / "seed_corpus" / "mixed.csv", index=False)
    return config


def test_default_model_is_built_once_and_rebuilt_when_the_corpus_changes(small_config: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    model_dir = ensure_default_model(small_config, root)
    first = read_meta(model_dir)
    assert first["built_from"] == "seed_corpus"
    assert load_model(model_dir, allowed_root=root).predict("路灯不亮了").department == "urban_management"

    assert read_meta(ensure_default_model(small_config, root))["created_at"] == first["created_at"]
    (model_dir / META_FILE).write_text(json.dumps({**first, "created_at": "unchanged-marker"}), encoding="utf-8")
    ensure_default_model(small_config, root)
    assert read_meta(model_dir)["created_at"] == "unchanged-marker"

    with (small_config / "seed_corpus" / "mixed.csv").open("a", encoding="utf-8") as f:
        f.write("street_lights,锦绣苑的路灯全都不亮\n")
    ensure_default_model(small_config, root)
    rebuilt = read_meta(model_dir)
    assert rebuilt["created_at"] != "unchanged-marker"
    assert rebuilt["source_sha256"] != first["source_sha256"]


def test_default_model_rebuilds_identically(small_config: Path, tmp_path: Path) -> None:
    a = read_meta(build_default_model(small_config, tmp_path / "a"))
    b = read_meta(build_default_model(small_config, tmp_path / "b"))
    assert a["model_sha256"] == b["model_sha256"]
    assert a["training_data_sha256"] == b["training_data_sha256"]


def test_text_features_weigh_char_ngrams_like_sklearn_tfidf() -> None:
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlp.classify import TextFeatures

    docs = ["路灯不亮了", "垃圾没人清运 路灯", "abc路灯路灯", "路灯不亮"]
    unseen = docs + ["新的路灯xyz", ""]
    ours = TextFeatures(word_min_df=10**9, char_min_df=1).fit(docs).transform(unseen)  # chars only
    ref = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False, sublinear_tf=True).fit(docs)
    theirs = ref.transform(unseen)
    assert ours.shape == theirs.shape
    # Same weights per row; only the column order differs.
    assert np.allclose(np.sort(ours.toarray(), axis=1), np.sort(theirs.toarray(), axis=1), atol=1e-6)


def test_train_explains_too_few_examples_for_cv(tmp_path: Path) -> None:
    data = write_corpus(tmp_path / "train.csv", seed=1, per_class=2)
    result = runner.invoke(app, ["train", "--data", str(data), "--cv", "5", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "cannot train" in result.output and "at least 5 examples per label" in result.output
    assert not (tmp_path / "m").exists()


def test_eval_with_a_yaml_map_scores_the_source_labels_over_sets_of_departments(tmp_path: Path) -> None:
    models = tmp_path / "models"
    invoke("train", "--data", str(write_corpus(tmp_path / "train.csv", seed=1)), "--out", str(models / "m"))
    label_map = tmp_path / "map.yaml"
    label_map.write_text(
        "labels:\n  公用:\n    - utilities\n    - urban_management\n  欠薪: [labour_social_security]\n"
    )
    names = {**SOURCE_LABELS, "street_lights": "公用", "water_supply": "公用"}
    test_data = write_corpus(tmp_path / "test.csv", seed=3, per_class=5, label_names=names)
    invoke(
        "eval",
        "--model",
        str(models / "m"),
        "--model-root",
        str(models),
        "--data",
        str(test_data),
        "--label-map",
        str(label_map),
        "--metrics-out",
        str(tmp_path / "e.json"),
    )
    metrics = json.loads((tmp_path / "e.json").read_text(encoding="utf-8"))
    assert metrics["level"] == "department"
    assert set(metrics["per_class"]) == {"公用", "欠薪"}
    assert metrics["per_class"]["公用"]["support"] == 10
    assert metrics["unmapped_rows"] == 5  # 市容 is in no class
    assert metrics["accuracy"] >= 0.9


def test_seed_prior_teaches_a_label_the_vocabulary_its_own_examples_lack(small_config: Path, tmp_path: Path) -> None:
    # The data's 公用 examples are all about street lights; the seed corpus, relabelled through the
    # map, also files water supply under 公用.
    label_map = tmp_path / "map.yaml"
    label_map.write_text("labels:\n  公用: [utilities, urban_management]\n  欠薪: [labour_social_security]\n")
    data = tmp_path / "data.csv"
    rows = [("公用", p) for p in PHRASES["street_lights"] * 3] + [("欠薪", p) for p in PHRASES["wage_arrears"] * 3]
    pd.DataFrame(rows, columns=["label", "text"]).to_csv(data, index=False)
    models = tmp_path / "models"
    common = ["train", "--data", str(data), "--config-dir", str(small_config), "--model-root", str(models)]
    invoke(*common, "--out", str(models / "plain"))
    out = invoke(*common, "--seed-prior", str(label_map), "--out", str(models / "prior"))
    assert "seed-corpus messages as prior" in out
    water = "家里突然停水了也没通知"
    assert load_model(models / "prior", allowed_root=models).predict(water).subcategory == "公用"
    assert read_meta(models / "prior")["metrics"]["prior"]["weight"] == 0.1
