"""Saving and loading a classifier: model.joblib plus meta.json, checked before anything is unpickled.

Unpickling runs code, so :func:`load_model` reads only from inside the configured model directory and
only a file whose sha256 equals the one written at training time; it also refuses a file written by a
different scikit-learn or numpy version, whose pickles are not compatible across versions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import joblib

from nlp.classify import ComplaintClassifier

logger = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
FORMAT_VERSION = 1
# A pickle only loads safely into the same versions of these.
STRICT_PACKAGES = ("scikit-learn", "numpy")
RECORDED_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib", "rjieba", "opencc-python-reimplemented")


class ModelLoadError(Exception):
    """The model directory cannot be trusted or used; the message says why and what to do."""


def library_versions() -> dict[str, str]:
    """Versions of python and the libraries a model file depends on."""
    versions = {"python": platform.python_version()}
    for name in RECORDED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: ComplaintClassifier, model_dir: Path, *, metadata: dict[str, Any]) -> Path:
    """Write model.joblib and meta.json (labels, versions, created_at, model sha256 + metadata)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / MODEL_FILE
    # Write then rename so a reader never sees half a file.
    fd, tmp_name = tempfile.mkstemp(dir=model_dir, suffix=".tmp")
    os.close(fd)
    joblib.dump(model, tmp_name, compress=3)
    os.chmod(tmp_name, 0o644)  # mkstemp makes it owner-only; other service users must read it
    os.replace(tmp_name, target)
    meta = {
        **metadata,
        "format_version": FORMAT_VERSION,
        "labels": model.labels,
        "label_info": model.label_info,
        "versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_file": MODEL_FILE,
        "model_sha256": file_sha256(target),
    }
    (model_dir / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
    logger.info("saved model to %s (%d labels)", model_dir, len(model.labels))
    return model_dir


def read_meta(model_dir: Path) -> dict[str, Any]:
    """meta.json of a model directory (plain JSON: safe to read from anywhere)."""
    path = model_dir / META_FILE
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing: not a model directory (train one with `gridbot train`)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{path} does not hold a JSON object")
    return meta


def version_mismatches(meta: dict[str, Any]) -> list[str]:
    """Human-readable differences between the model's strict library versions and the installed ones."""
    recorded = meta.get("versions", {})
    installed = library_versions()
    return [
        f"{name} {recorded.get(name, 'unknown')} (model) vs {installed[name]} (installed)"
        for name in STRICT_PACKAGES
        if recorded.get(name) != installed[name]
    ]


def load_model(model_dir: Path, *, allowed_root: Path) -> ComplaintClassifier:
    """Load a model after checking its place, its sha256 and the library versions; else ModelLoadError."""
    root = allowed_root.resolve()
    resolved = model_dir.resolve()
    if not resolved.is_relative_to(root):
        raise ModelLoadError(f"refusing to load a model from {resolved}: outside the model directory {root}")
    meta = read_meta(resolved)
    model_path = (resolved / str(meta.get("model_file", MODEL_FILE))).resolve()
    if model_path.parent != resolved or not model_path.is_file():
        raise ModelLoadError(f"{model_path} is missing or outside {resolved}")
    expected = meta.get("model_sha256")
    actual = file_sha256(model_path)
    if not expected or actual != expected:
        raise ModelLoadError(
            f"{model_path} has sha256 {actual} but meta.json records {expected}: "
            "the file was changed after training; rebuild it with `gridbot train`"
        )
    mismatches = version_mismatches(meta)
    if mismatches:
        raise ModelLoadError(
            "model was built with other library versions: "
            + "; ".join(mismatches)
            + ". Rebuild it with `gridbot train` under the installed versions."
        )
    model = joblib.load(model_path)
    if not isinstance(model, ComplaintClassifier):
        raise ModelLoadError(f"{model_path} holds a {type(model).__name__}, not a ComplaintClassifier")
    return model
