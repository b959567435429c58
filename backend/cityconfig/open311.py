"""Open311 service extras from config/open311.yaml: attributes a service asks for, and whether it needs a description.

A service listed with attributes is published with metadata=true and a definition at services/{code}; a value of
a single/multi value list may mark the report urgent (e.g. someone trapped in a lift). The file is optional:
without it every service has no attributes and takes an optional description, as GeoReport v2 says.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backend.cityconfig.errors import ConfigError, describe_validation_error
from backend.cityconfig.yamlfiles import read_yaml

FILENAME = "open311.yaml"
Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
LISTS = ("singlevaluelist", "multivaluelist")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _ValueIn(_Strict):
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    urgent: bool = False


class _AttributeIn(_Strict):
    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    datatype: Datatype
    description: str = Field(min_length=1)
    required: bool = False
    datatype_description: str = ""
    values: list[_ValueIn] = []


class _ServiceIn(_Strict):
    description_required: bool = False
    attributes: list[_AttributeIn] = []


@dataclass(frozen=True)
class AttributeValue:
    """One choice of a list attribute."""

    key: str
    name: str
    urgent: bool


@dataclass(frozen=True)
class Attribute:
    """One question a service asks besides the standard fields (GeoReport `attribute[code]`)."""

    code: str
    datatype: str
    description: str
    required: bool
    datatype_description: str
    values: tuple[AttributeValue, ...]
    order: int

    def value(self, key: str) -> AttributeValue | None:
        """The list value with this key, if any."""
        return next((v for v in self.values if v.key == key), None)


@dataclass(frozen=True)
class ServiceExtras:
    """What config/open311.yaml says of one service."""

    description_required: bool = False
    attributes: tuple[Attribute, ...] = ()


NONE = ServiceExtras()


def load_open311(path: Path, known_services: set[str] | frozenset[str] | None = None) -> dict[str, ServiceExtras]:
    """Read and validate the extras file; a missing file means no extras."""
    if not path.exists():
        return {}
    raw = read_yaml(path, "services")
    if not isinstance(raw, dict):
        raise ConfigError(path, None, "'services' must map service codes to their extras")
    found: dict[str, ServiceExtras] = {}
    for code, body in raw.items():
        entry = str(code)
        if known_services is not None and entry not in known_services:
            raise ConfigError(path, entry, "not a subcategory of the taxonomy")
        try:
            parsed = _ServiceIn.model_validate(body or {})
        except ValidationError as exc:
            raise ConfigError(path, entry, describe_validation_error(exc)) from exc
        attrs = []
        for order, a in enumerate(parsed.attributes, start=1):
            if (a.datatype in LISTS) != bool(a.values):
                raise ConfigError(path, f"{entry}.{a.code}", "list datatypes need values; other datatypes take none")
            values = tuple(AttributeValue(v.key, v.name, v.urgent) for v in a.values)
            attrs.append(
                Attribute(a.code, a.datatype, a.description, a.required, a.datatype_description, values, order)
            )
        if len({a.code for a in attrs}) != len(attrs):
            raise ConfigError(path, entry, "attribute codes must be unique")
        found[entry] = ServiceExtras(parsed.description_required, tuple(attrs))
    return found


@cache
def _cached(path: Path, mtime: float) -> dict[str, ServiceExtras]:
    return load_open311(path)


def open311_extras(config_dir: Path) -> dict[str, ServiceExtras]:
    """The extras in `config_dir/open311.yaml`, re-read when the file changes."""
    path = config_dir / FILENAME
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    return _cached(path, mtime)
