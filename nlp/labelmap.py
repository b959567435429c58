"""Label maps: how another dataset's labels correspond to our subcategories, categories or departments.

Two file formats:

- CSV ``source_label,target_label``: each source label names one of our codes; the evaluation
  classes are the targets (several sources may share one).
- YAML ``labels: {source: [code, ...]}`` plus an optional ``uncovered: [code, ...]``: each source
  label covers a *set* of our departments, categories or subcategories; the evaluation classes are
  the source labels. A subcategory belongs to the most specific entry naming it (its own code, then
  its category, then its department); ``uncovered`` codes belong to no source label.

Every one of our subcategories is then either in exactly one evaluation class or in none.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nlp.dataio import LabelInfo, read_frame

LEVELS = ("subcategory", "category", "department")
# Higher wins when several entries name the same subcategory.
_SPECIFICITY = {"subcategory": 3, "category": 2, "department": 1}


@dataclass(frozen=True)
class LabelMap:
    """source label → evaluation class, and evaluation class → the codes of ours it covers."""

    source_to_class: dict[str, str]
    class_codes: dict[str, tuple[str, ...]]
    uncovered: tuple[str, ...] = ()

    @classmethod
    def one_to_one(cls, mapping: Mapping[str, str]) -> LabelMap:
        """Each source label maps to one of our codes, which is also the evaluation class."""
        return cls(
            source_to_class={s: t for s, t in mapping.items()},
            class_codes={t: (t,) for t in sorted(set(mapping.values()))},
        )

    @property
    def classes(self) -> list[str]:
        return sorted(self.class_codes)

    def as_dict(self) -> dict[str, Any]:
        """The map as plain data, for metrics files."""
        return {
            "source_to_class": dict(sorted(self.source_to_class.items())),
            "class_codes": {c: list(codes) for c, codes in sorted(self.class_codes.items())},
            "uncovered": list(self.uncovered),
        }

    def levels(self, info: LabelInfo) -> list[str]:
        """The levels the map's codes name (e.g. ['department'] or ['category', 'department'])."""
        named = {code for codes in self.class_codes.values() for code in codes} | set(self.uncovered)
        for level in LEVELS:  # one level naming them all, if there is one (some codes exist at two levels)
            if named <= _codes_at(level, info):
                return [level]
        return sorted({_level_of(code, info) for code in named}, key=LEVELS.index)

    def membership(self, labels: Sequence[str], info: LabelInfo) -> list[str | None]:
        """For each subcategory label, its evaluation class (None when the map does not cover it)."""
        entries: list[tuple[str | None, str]] = [
            (cls, code) for cls, codes in self.class_codes.items() for code in codes
        ]
        entries += [(None, code) for code in self.uncovered]
        for _, code in entries:
            _level_of(code, info)  # every code must be known
        out: list[str | None] = []
        for label in labels:
            keys = {
                "subcategory": label,
                "category": info.get(label, {}).get("category"),
                "department": info.get(label, {}).get("department"),
            }
            best: dict[int, set[str | None]] = {}
            for cls, code in entries:
                for level, key in keys.items():
                    if key is not None and code == key:
                        best.setdefault(_SPECIFICITY[level], set()).add(cls)
            if not best:
                out.append(None)
                continue
            winners = best[max(best)]
            if len(winners) > 1:
                names = sorted(str(w) for w in winners)
                raise ValueError(f"label map is ambiguous for {label}: equally specific entries in {names}")
            out.append(next(iter(winners)))
        return out


def _codes_at(level: str, info: LabelInfo) -> set[str]:
    if level == "subcategory":
        return set(info)
    return {str(v[level]) for v in info.values() if v.get(level)}


def _level_of(code: str, info: LabelInfo) -> str:
    for level in LEVELS:
        if code in _codes_at(level, info):
            return level
    raise ValueError(f"label map names {code!r}, which is not a subcategory, category or department of the model")


def read_label_map(path: Path) -> LabelMap:
    """A label map from a CSV (source_label,target_label) or YAML (labels: {source: [codes]}) file."""
    if path.suffix.lower() in {".yaml", ".yml"}:
        return _from_yaml(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, path)
    frame = read_frame(path)
    for col in ("source_label", "target_label"):
        if col not in frame.columns:
            raise ValueError(f"{path}: label map needs columns source_label,target_label")
    mapping: dict[str, str] = {}
    for s, t in zip(frame["source_label"], frame["target_label"], strict=True):
        source, target = str(s).strip(), str(t).strip()
        if not source:
            continue
        if mapping.get(source, target) != target:
            raise ValueError(f"{path}: {source} maps to several targets; write a YAML map for sets of codes")
        mapping[source] = target
    return LabelMap.one_to_one(mapping)


def _from_yaml(data: dict[str, Any], path: Path) -> LabelMap:
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        raise ValueError(f"{path}: a YAML label map needs a non-empty 'labels' mapping")
    class_codes = {str(s).strip(): _codes(codes, path, str(s)) for s, codes in labels.items()}
    uncovered = _codes(data.get("uncovered") or [], path, "uncovered", allow_empty=True)
    return LabelMap(source_to_class={s: s for s in class_codes}, class_codes=class_codes, uncovered=uncovered)


def _codes(value: Any, path: Path, name: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    items: Iterable[Any] = [value] if isinstance(value, str) else value
    codes = tuple(str(c).strip() for c in items if str(c).strip())
    if not codes and not allow_empty:
        raise ValueError(f"{path}: {name} covers no codes")
    return codes
