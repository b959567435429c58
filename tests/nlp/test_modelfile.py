"""The model file: round trip, and refusal of tampered, mismatched or misplaced files."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from nlp.classify import ComplaintClassifier
from nlp.modelfile import META_FILE, MODEL_FILE, ModelLoadError, library_versions, load_model, save_model
from nlp.train import train_model

PHRASES = {
    "garbage_piling": ["垃圾桶满了没人清运", "生活垃圾堆在路边发臭", "垃圾好几天没拉走"],
    "street_lights": ["路灯晚上不亮", "路灯坏了一片漆黑", "灯杆倒了路灯不亮"],
    "water_supply": ["家里停水了", "自来水发黄有锈", "水压太低水上不去"],
}
INFO = {
    "garbage_piling": {"category": "city_appearance", "department": "urban_management"},
    "street_lights": {"category": "municipal_facilities", "department": "urban_management"},
    "water_supply": {"category": "public_utilities", "department": "utilities"},
}


def _corpus(seed: int, per_class: int = 12) -> tuple[list[str], list[str]]:
    rnd = random.Random(seed)
    places = ["阳光花园", "锦绣苑", "建设路", "丰产路社区"]
    texts, labels = [], []
    for label, phrases in PHRASES.items():
        for _ in range(per_class):
            texts.append(f"{rnd.choice(places)}{rnd.choice(phrases)}，请尽快处理")
            labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model() -> ComplaintClassifier:
    texts, labels = _corpus(1)
    fitted, _ = train_model(texts, labels, label_info=INFO, user_words=["阳光花园", "锦绣苑"])
    return fitted


@pytest.fixture
def saved(model: ComplaintClassifier, tmp_path: Path) -> Path:
    return save_model(model, tmp_path / "models" / "m1", metadata={"training_data_sha256": "abc"})


def test_model_round_trips_with_the_same_predictions(model: ComplaintClassifier, saved: Path) -> None:
    loaded = load_model(saved, allowed_root=saved.parent)
    texts, _ = _corpus(2)
    assert (loaded.predict_proba(texts) == model.predict_proba(texts)).all()
    prediction = loaded.predict("锦绣苑路灯不亮了")
    assert prediction.subcategory == "street_lights"
    assert prediction.department == "urban_management"
    assert [label for label, _ in prediction.top3][0] == "street_lights"
    assert len(prediction.top3) == 3


def test_meta_records_labels_versions_hashes_and_time(saved: Path) -> None:
    meta = json.loads((saved / META_FILE).read_text(encoding="utf-8"))
    assert meta["labels"] == sorted(PHRASES)
    assert meta["training_data_sha256"] == "abc"
    assert meta["versions"] == library_versions()
    assert len(meta["model_sha256"]) == 64
    assert meta["created_at"]


def test_tampered_model_file_is_refused(saved: Path) -> None:
    with (saved / MODEL_FILE).open("ab") as f:
        f.write(b"\x00")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_model(saved, allowed_root=saved.parent)


def test_model_from_other_sklearn_version_is_refused_naming_both(saved: Path) -> None:
    meta_path = saved / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["versions"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelLoadError) as excinfo:
        load_model(saved, allowed_root=saved.parent)
    message = str(excinfo.value)
    assert "0.24.2" in message and library_versions()["scikit-learn"] in message


def test_model_outside_the_allowed_root_is_refused(saved: Path, tmp_path: Path) -> None:
    other_root = tmp_path / "elsewhere"
    other_root.mkdir()
    with pytest.raises(ModelLoadError, match="outside"):
        load_model(saved, allowed_root=other_root)
    with pytest.raises(ModelLoadError, match="outside"):
        load_model(other_root / ".." / "models" / "m1", allowed_root=other_root)


def test_symlink_from_allowed_root_to_outside_is_refused(saved: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(saved, target_is_directory=True)
    with pytest.raises(ModelLoadError, match="outside"):
        load_model(root / "link", allowed_root=root)


def test_directory_without_meta_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(ModelLoadError, match="meta.json"):
        load_model(tmp_path / "m", allowed_root=tmp_path)


def test_probabilities_equal_the_calibrated_pipeline_and_sum_to_one(model: ComplaintClassifier) -> None:
    texts, _ = _corpus(3)
    ours = model.predict_proba(texts)
    assert ours == pytest.approx(model.pipeline.predict_proba(texts), abs=1e-9)
    assert ours.sum(axis=1) == pytest.approx(1.0)
    top3 = model.predict(texts[0]).top3
    assert [p for _, p in top3] == sorted((p for _, p in top3), reverse=True)


def test_two_class_model_probabilities_equal_the_calibrated_pipeline() -> None:
    texts, labels = _corpus(4)
    keep = [i for i, label in enumerate(labels) if label != "water_supply"]
    two, _ = train_model([texts[i] for i in keep], [labels[i] for i in keep], label_info=INFO)
    assert two.labels == ["garbage_piling", "street_lights"]
    assert two.predict_proba(texts) == pytest.approx(two.pipeline.predict_proba(texts), abs=1e-9)
    assert two.predict("路灯不亮").subcategory == "street_lights"
