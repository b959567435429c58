"""NB-SVM: the log-count-ratio scaling folds into plain linear weights, so serving stays the same."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from sklearn.svm import LinearSVC

from nlp.classify import NBSVM, build_pipeline
from nlp.train import train_model

TEXTS = [
    "路灯坏了很久没人修",
    "小区路灯晚上不亮",
    "楼道灯坏了没人管",
    "孩子上学学费太贵",
    "学校乱收补课费",
    "幼儿园收费太高",
    "工资被拖欠两个月",
    "老板不发加班费",
    "公司拖欠工资不给",
] * 2
LABELS = (["light"] * 3 + ["school"] * 3 + ["wages"] * 3) * 2


def test_weights_are_the_svm_on_scaled_features_times_the_ratio() -> None:
    x = csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 2.0, 1.0]]))
    y = np.array(["a", "b", "a", "b"])
    model = NBSVM(C=0.5).fit(x, y)
    assert model.coef_.shape == (1, 3) and model.decision_function(x).shape == (4,)
    present = (x.toarray() > 0).astype(float)
    p, q = 1 + present[y == "b"].sum(axis=0), 1 + present[y == "a"].sum(axis=0)
    ratio = np.log(p / p.sum()) - np.log(q / q.sum())
    svm = LinearSVC(C=0.5, random_state=0).fit(x.toarray() * ratio, y == "b")
    np.testing.assert_allclose(model.decision_function(x), svm.decision_function(x.toarray() * ratio), atol=1e-9)
    assert list(model.predict(x)) == list(y)


@pytest.mark.parametrize("labels", [LABELS, [lab if lab == "light" else "other" for lab in LABELS]])
def test_fast_path_equals_the_pipeline(labels: list[str]) -> None:
    model, _ = train_model(TEXTS, labels, label_info={lab: {} for lab in labels})
    assert isinstance(model.pipeline.named_steps["clf"].estimator, NBSVM)
    reference = model.pipeline.predict_proba(TEXTS)
    np.testing.assert_allclose(model.predict_proba(TEXTS), reference, atol=1e-6)
    singles = np.vstack([model.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(singles, reference, atol=1e-6)


def test_unknown_linear_model_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown linear model"):
        build_pipeline(linear="ridge")  # type: ignore[arg-type]
