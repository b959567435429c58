"""Reading labelled messages (CSV, XLSX or a directory of CSVs) and the label metadata from config."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

logger = logging.getLogger(__name__)

LabelInfo = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Dataset:
    """Texts with their labels (labels is None for unlabelled data)."""

    texts: list[str]
    labels: list[str] | None
    source: str

    def __len__(self) -> int:
        return len(self.texts)


def parse_cols(spec: str) -> list[str]:
    """'title,text' → ['title', 'text']."""
    cols = [c.strip() for c in spec.split(",") if c.strip()]
    if not cols:
        raise ValueError("no text columns given")
    return cols


def read_frame(path: Path) -> pd.DataFrame:
    """A CSV or XLSX file as strings; a directory means every *.csv inside, concatenated in name order."""
    if path.is_dir():
        files = sorted(path.glob("*.csv"))
        if not files:
            raise FileNotFoundError(f"no *.csv files in {path}")
        return pd.concat([_read_one(f) for f in files], ignore_index=True)
    return _read_one(path)


def _read_one(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in {".xlsx", ".xlsm", ".xls"}:
        return pd.read_excel(path, dtype=str, keep_default_na=False)
    if suffix in {".csv", ".txt", ".tsv"}:
        sep = "\t" if suffix == ".tsv" else ","
        try:
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=sep)
        except UnicodeDecodeError:
            # Chinese government exports are often GBK-encoded.
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="gb18030", sep=sep)
    raise ValueError(f"unsupported data file {path.name}: use .csv or .xlsx")


def read_dataset(path: Path, text_cols: Sequence[str], label_col: str | None) -> Dataset:
    """Join text_cols with a space per row; drop rows whose text or label is empty."""
    frame = read_frame(path)
    missing = [c for c in [*text_cols, *([label_col] if label_col else [])] if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}")
    texts = frame[list(text_cols)].fillna("").astype(str).agg(" ".join, axis=1).str.strip()
    keep = texts != ""
    labels = None
    if label_col:
        label_series = frame[label_col].fillna("").astype(str).str.strip()
        keep &= label_series != ""
        labels = label_series[keep].tolist()
    dropped = int((~keep).sum())
    if dropped:
        logger.warning("%s: dropped %d row(s) with empty text or label", path, dropped)
    return Dataset(texts=texts[keep].tolist(), labels=labels, source=str(path))


def concat(datasets: Sequence[Dataset]) -> Dataset:
    """Several labelled datasets as one."""
    labels: list[str] = []
    for d in datasets:
        if d.labels is None:
            raise ValueError(f"{d.source} has no labels")
        labels += d.labels
    return Dataset([t for d in datasets for t in d.texts], labels, "+".join(d.source for d in datasets))


def data_sha256(texts: Sequence[str], labels: Sequence[str]) -> str:
    """A hash of the training examples themselves (order-sensitive, format-independent)."""
    h = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        h.update(label.encode("utf-8") + b"\x1f" + text.encode("utf-8") + b"\x1e")
    return h.hexdigest()


def files_sha256(paths: Sequence[Path]) -> str:
    """A hash over files' names and contents (directories expanded to their *.csv files)."""
    h = hashlib.sha256()
    for path in paths:
        files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                h.update(f.name.encode("utf-8") + b"\x00" + f.read_bytes() + b"\x00")
    return h.hexdigest()


def load_label_info(config_dir: Path) -> LabelInfo:
    """Subcategory code → {category, department, name} from taxonomy.yaml and responsibilities.yaml."""
    taxonomy = yaml.safe_load((config_dir / "taxonomy.yaml").read_text(encoding="utf-8"))
    duties = yaml.safe_load((config_dir / "responsibilities.yaml").read_text(encoding="utf-8"))
    duties = duties.get("responsibilities", {})
    info: LabelInfo = {}
    for cat in taxonomy["categories"]:
        for sub in cat["subcategories"]:
            duty = duties.get(sub["code"], {})
            info[sub["code"]] = {
                "category": cat["code"],
                "department": duty.get("department"),
                "name": sub.get("name", sub["code"]),
            }
    return info


def label_info_for(labels: Sequence[str], known: LabelInfo) -> LabelInfo:
    """Label info for every label present; labels outside the taxonomy get no category or department."""
    unknown = sorted(set(labels) - known.keys())
    if unknown:
        logger.warning("labels not in the taxonomy (no category/department): %s", ", ".join(unknown[:10]))
    return {lab: known.get(lab, {"category": None, "department": None, "name": lab}) for lab in sorted(set(labels))}
