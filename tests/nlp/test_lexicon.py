"""A category tree as a lexicon: its terms count per group as features, served by the fast path too."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix
from typer.testing import CliRunner

from nlp.classify import NBSVM, TextFeatures, build_pipeline
from nlp.cli import app
from nlp.lexicon import LEXICON_SCALE, Lexicon, lexicon_from_rows, read_lexicon, split_terms
from nlp.modelfile import META_FILE, load_model
from nlp.train import train_model

TREE = [
    ["劳动和社会保障", "劳动关系", "拖欠工资"],
    ["劳动和社会保障", "社会保险", "养老保险、医疗保险"],
    ["劳动和社会保障", "劳动关系", "劳动合同"],
    ["城乡建设", "市政设施", "路灯与井盖"],
    ["城乡建设", "市政设施", "下水道"],
    ["城乡建设", "其他", "其他"],
]
LEXICON = lexicon_from_rows(TREE)
TEXTS = [
    "路灯坏了很久没人修",
    "小区门口的路灯晚上不亮",
    "井盖丢了很危险",
    "楼下井盖松动了",
    "公司拖欠工资两个月",
    "老板拖欠工资不给",
    "单位不交养老保险",
    "工地拖欠工资还打人",
] * 2
LABELS = (["city"] * 4 + ["labour"] * 4) * 2


def test_tree_rows_become_groups_of_terms_split_at_connectors() -> None:
    groups = dict(LEXICON.groups)
    # Every node with children is a group; "城乡建设 › 其他" has only a catch-all below it, so no terms.
    assert list(groups) == [
        "劳动和社会保障",
        "劳动和社会保障 › 劳动关系",
        "劳动和社会保障 › 社会保险",
        "城乡建设",
        "城乡建设 › 市政设施",
    ]
    # The group's own name is split too: 劳动和社会保障 → 劳动, 社会保障.
    assert {"拖欠工资", "养老保险", "医疗保险", "劳动合同", "劳动关系", "劳动", "社会保障"} <= set(
        groups["劳动和社会保障"]
    )
    assert {"路灯", "井盖", "下水道", "市政设施"} <= set(groups["城乡建设"])
    # A level-2 group holds its own name and the terms below it, not its siblings' nor its domain's.
    assert groups["劳动和社会保障 › 劳动关系"] == ("劳动关系", "劳动合同", "拖欠工资")
    assert groups["劳动和社会保障 › 社会保险"] == ("养老保险", "医疗保险", "社会保险")
    assert "其他" not in LEXICON.terms  # a catch-all names no topic
    assert split_terms("垃圾堆放与清运") == ["垃圾堆放", "清运"]
    assert split_terms("Ａ") == []  # too short


def test_a_two_column_tree_gives_one_group_per_first_level_domain() -> None:
    two_levels = lexicon_from_rows([[domain, leaf, ""] for domain, _, leaf in TREE])
    assert [name for name, _ in two_levels.groups] == ["劳动和社会保障", "城乡建设"]
    assert "劳动合同" in dict(two_levels.groups)["劳动和社会保障"]


def test_blank_leading_cells_repeat_the_row_above_as_merged_cells_export() -> None:
    merged = [
        ["劳动和社会保障", "劳动关系", "拖欠工资"],
        ["", "", "劳动合同"],
        ["", "社会保险", "养老保险、医疗保险"],
        ["城乡建设", "市政设施", "路灯与井盖"],
        ["", "", "下水道"],
        ["", "其他", "其他"],
    ]
    assert lexicon_from_rows(merged) == LEXICON
    assert lexicon_from_rows([["", "", "路灯"], *merged]) == LEXICON  # nothing above the first row to repeat


def test_read_lexicon_takes_the_first_column_as_the_group(tmp_path: Path) -> None:
    path = tmp_path / "tree.csv"
    pd.DataFrame(TREE, columns=["level1", "level2", "level3"]).to_csv(path, index=False)
    assert read_lexicon(path) == LEXICON
    empty = tmp_path / "empty.csv"
    pd.DataFrame([["其他", "其他"]], columns=["a", "b"]).to_csv(empty, index=False)
    with pytest.raises(ValueError, match="no terms"):
        read_lexicon(empty)


def test_each_group_column_is_the_scaled_log_count_of_its_distinct_terms() -> None:
    features = TextFeatures(lexicon=LEXICON.groups).fit(TEXTS)
    texts = ["拖欠工资还不交养老保险，拖欠工资", "路灯坏了", "今天天气不错"]
    x = features.transform(texts).toarray()
    assert x.shape[1] == features.n_features_ == features.n_text_features_ + 5
    block = x[:, -5:]  # groups in sorted order: 劳动和社会保障, its 劳动关系, its 社会保险, 城乡建设, its 市政设施
    # Distinct terms: a repeat counts once.
    expected = LEXICON_SCALE * np.log1p([[2, 1, 1, 0, 0], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0]])
    np.testing.assert_allclose(block, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(x[:, :-5], axis=1), 1.0, rtol=1e-6)  # text part still l2-normalised


def test_a_term_the_training_messages_never_used_still_counts_for_its_group() -> None:
    model, _ = train_model(TEXTS, LABELS, label_info={}, lexicon=LEXICON)
    plain, _ = train_model(TEXTS, LABELS, label_info={})
    # Binary model: one weight row for the second label, labour; the group columns come last, in sorted order.
    names = [name for name, _ in LEXICON.groups]
    group_weights = dict(zip(names, model._svm.coef_[0, -len(names) :], strict=True))
    labour_group, city_group = group_weights["劳动和社会保障"], group_weights["城乡建设"]
    assert labour_group > 0 > city_group
    for text in ("单位不签劳动合同", "医疗保险"):  # 劳动合同 and 医疗保险 occur in no training message
        assert model.predict_proba([text])[0, 1] > plain.predict_proba([text])[0, 1] + 0.05
    assert model.predict("单位不签劳动合同").subcategory == "labour"


@pytest.mark.parametrize("labels", [LABELS, [*LABELS[:4], *["other"] * 4] * 2])
def test_fast_path_equals_the_pipeline_with_a_lexicon(labels: list[str]) -> None:
    texts = [*TEXTS, "下水道", "劳动合同", "", "下水道和路灯都坏了，还拖欠工资"]
    model, _ = train_model(TEXTS, labels, label_info={}, lexicon=LEXICON)
    reference = model.pipeline.predict_proba(texts)
    np.testing.assert_allclose(model.predict_proba(texts), reference, atol=1e-6)
    singles = np.vstack([model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(singles, reference, atol=1e-6)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(again.predict_proba(texts), reference, atol=1e-6)


def test_nbsvm_leaves_the_plain_tail_unscaled() -> None:
    x = csr_matrix(np.array([[1.0, 0.0, 0.7], [0.0, 1.0, 0.0], [1.0, 1.0, 0.7], [0.0, 1.0, 0.0]]))
    y = np.array(["a", "b", "a", "b"])
    tailed = NBSVM(C=0.5, plain_tail=1).fit(x, y)
    head = NBSVM(C=0.5).fit(x[:, :2], y)
    # The ratios of the first two features do not depend on the unscaled third.
    assert tailed.coef_.shape == (1, 3)
    assert np.sign(tailed.coef_[0, :2]).tolist() == np.sign(head.coef_[0]).tolist()
    assert tailed.coef_[0, 2] < 0  # the third feature speaks for "a"
    pipeline = build_pipeline(lexicon=Lexicon((("g", ("路灯",)),)))
    assert pipeline.named_steps["clf"].estimator.plain_tail == 1
    assert build_pipeline().named_steps["clf"].estimator.plain_tail == 0


def test_features_pickled_before_lexicons_existed_still_transform() -> None:
    features = TextFeatures().fit(TEXTS)
    state = features.__getstate__()
    for key in ("lexicon", "lexicon_scale", "n_text_features_", "term_index_", "term_groups_"):
        del state[key]
    old = TextFeatures.__new__(TextFeatures)
    old.__setstate__(state)
    assert (old.transform(TEXTS) != features.transform(TEXTS)).nnz == 0


def test_train_cli_takes_a_lexicon_file(tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    pd.DataFrame(TREE, columns=["level1", "level2", "level3"]).to_csv(tree, index=False)
    data = tmp_path / "data.csv"
    pd.DataFrame({"label": LABELS, "text": TEXTS}).to_csv(data, index=False)
    models = tmp_path / "models"
    result = CliRunner().invoke(
        app,
        ["train", "--data", str(data), "--lexicon", str(tree), "--model-root", str(models), "--out", str(models / "m")],
    )
    assert result.exit_code == 0, result.output
    assert f"lexicon of {len(LEXICON)} groups" in result.output
    meta = json.loads((models / "m" / META_FILE).read_text(encoding="utf-8"))
    assert meta["lexicon_source"] == str(tree)
    assert meta["metrics"]["lexicon"] == {"groups": len(LEXICON), "terms": len(LEXICON.terms)}
    loaded = load_model(models / "m", allowed_root=models)
    assert loaded.pipeline.named_steps["features"].lexicon == LEXICON.groups
    assert loaded.predict("单位不签劳动合同").subcategory == "labour"
