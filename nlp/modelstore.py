"""Model versions in the model directory, the ACTIVE pointer, and the loaded model that knows its version.

Layout of the model directory (every process of one installation must see the same one):

    default/                    version v1: the shipped model, built from config/seed_corpus
    v2-20261204T221500Z/        a retrained model (model.joblib + meta.json, see nlp/modelfile.py)
    ACTIVE                      {"active": "v2-…", "history": ["v1"], "changed_at": …}

No ACTIVE file means v1. The pointer is replaced atomically (a temporary file in the same directory, then
os.replace), so a reader sees the old pointer or the new one; its stat (inode, mtime, size) is the cheap
stamp a running process compares to notice a change. `history` is what `rollback` returns to.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nlp.classify import ComplaintClassifier, Prediction
from nlp.modelfile import ModelLoadError, load_model, read_meta, save_model

ACTIVE_FILE = "ACTIVE"
SHIPPED_DIR = "default"
SHIPPED_VERSION = "v1"
LOCK_FILE = ".store.lock"
TEMP_PREFIX = ".tmp-"
_VERSION = re.compile(r"^v(\d+)(-[0-9TZ]+)?$")

Stamp = tuple[int, int, int]


class ModelStoreError(Exception):
    """A version that does not exist, a rollback with nothing to return to, …: the message says what to do."""


@dataclass(frozen=True)
class VersionedClassifier:
    """A loaded model and the version it was loaded as; predictions pass straight through."""

    model: ComplaintClassifier
    version: str

    def predict(self, text: str) -> Prediction:
        """The model's prediction for one text."""
        return self.model.predict(text)

    def predict_many(self, texts: Sequence[str]) -> list[Prediction]:
        """The model's predictions for many texts, in one vectorised pass."""
        return self.model.predict_many(texts)


@dataclass(frozen=True)
class ModelVersion:
    """One version in the store, as `gridbot model list` shows it."""

    name: str
    number: int
    path: Path
    meta: dict[str, Any]
    active: bool


def version_number(name: str) -> int:
    """3 for "v3-20261204T221500Z"; ModelStoreError for a name that is not a version."""
    match = _VERSION.match(name)
    if match is None:
        raise ModelStoreError(f"{name!r} is not a model version (v1, v2-…; see `gridbot model list`)")
    return int(match.group(1))


def version_dir(root: Path, name: str) -> Path:
    """Where a version's files are."""
    if name == SHIPPED_VERSION:
        return root / SHIPPED_DIR
    version_number(name)
    return root / name


def read_pointer(root: Path) -> dict[str, Any]:
    """The ACTIVE pointer ({"active": "v1", "history": []} when there is none yet)."""
    try:
        data = json.loads((root / ACTIVE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"active": SHIPPED_VERSION, "history": []}
    except (OSError, ValueError) as exc:
        raise ModelStoreError(f"{root / ACTIVE_FILE} cannot be read ({exc}); activate a version again") from exc
    if not isinstance(data, dict) or not isinstance(data.get("active"), str):
        raise ModelStoreError(f"{root / ACTIVE_FILE} names no active version; activate a version again")
    data.setdefault("history", [])
    return data


def active_version(root: Path) -> str:
    """The name of the active version."""
    return str(read_pointer(root)["active"])


def pointer_stamp(root: Path) -> Stamp | None:
    """A cheap stamp of the pointer (one stat): it changes whenever a version is activated."""
    try:
        st = os.stat(root / ACTIVE_FILE)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def list_versions(root: Path) -> list[ModelVersion]:
    """Every complete version in the store, oldest first."""
    active = active_version(root)
    found: list[ModelVersion] = []
    candidates = [(SHIPPED_VERSION, root / SHIPPED_DIR)]
    if root.is_dir():
        candidates += [(p.name, p) for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name)]
    for name, path in candidates:
        try:
            meta = read_meta(path)
        except ModelLoadError:
            continue
        found.append(ModelVersion(name, version_number(name), path, meta, name == active))
    return sorted(found, key=lambda v: v.number)


def load_version(root: Path, name: str) -> VersionedClassifier:
    """Load one version (checked like every model file: place, sha256, library versions)."""
    return VersionedClassifier(load_model(version_dir(root, name), allowed_root=root), name)


def save_version(root: Path, model: ComplaintClassifier, *, metadata: dict[str, Any], now: datetime) -> str:
    """Save a model as the next version (not activated) and return its name.

    It is written into a temporary directory and renamed when complete, so a half-written version is never
    listed; the temporary directory is removed if anything fails.
    """
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        number = max([1, *(v.number for v in list_versions(root)), *_numbers_in(root)]) + 1
        name = f"v{number}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        tmp = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=root))
        try:
            save_model(model, tmp, metadata={**metadata, "version": name})
            tmp.chmod(0o755)
            tmp.rename(root / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return name


def activate(root: Path, name: str, *, remember: bool = True) -> str:
    """Make a version the active one (after checking it loads); returns the version it replaced."""
    load_version(root, name)  # refuse a version that would not load, before any process tries
    with _locked(root):
        pointer = read_pointer(root)
        previous = str(pointer["active"])
        history = [str(h) for h in pointer["history"]]
        if remember and previous != name:
            history.append(previous)
        _write_pointer(root, name, history)
    return previous


def rollback(root: Path) -> str:
    """Activate the version that was active before the current one; returns its name."""
    with _locked(root):
        pointer = read_pointer(root)
        history = [str(h) for h in pointer["history"]]
        while history:
            name = history.pop()
            if version_dir(root, name).is_dir():
                load_version(root, name)
                _write_pointer(root, name, history)
                return name
    raise ModelStoreError(f"no earlier version to return to (active: {pointer['active']})")


def _write_pointer(root: Path, name: str, history: list[str]) -> None:
    data = {"active": name, "history": history, "changed_at": datetime.now(UTC).isoformat(timespec="seconds")}
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, root / ACTIVE_FILE)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _numbers_in(root: Path) -> list[int]:
    # Numbers already used by directories that no longer load are not given out again.
    return [int(m.group(1)) for p in root.iterdir() if (m := _VERSION.match(p.name))]


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    # Two operators (or a retrain and a rollback) must not interleave their read-modify-write of the pointer.
    with (root / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
