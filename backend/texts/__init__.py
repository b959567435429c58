"""Every text a user sees, in one catalogue (backend/texts/catalogue.yaml): Chinese by default, English too.

Chat replies, notifications and the refusals of domain errors (`error.*` keys) all come from here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

logger = logging.getLogger(__name__)

CATALOGUE_PATH = Path(__file__).with_name("catalogue.yaml")
LANGUAGES = ("zh", "en")
DEFAULT_LANG = "zh"


@dataclass(frozen=True)
class Term:
    """A text parameter that is itself a catalogue key, shown in the reader's language."""

    key: str


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The catalogue: key → {language → text}."""
    raw = yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))
    return {str(k): {str(lang): str(text) for lang, text in v.items()} for k, v in raw.items()}


def lang_of(language: str | None) -> str:
    """The catalogue language for a platform language code (en, en-US → en; anything else → zh)."""
    return "en" if language and language.lower().startswith("en") else DEFAULT_LANG


def t(key: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    """The text for a key in a language, with {placeholders} filled; falls back to Chinese."""
    entry = catalogue().get(key)
    if entry is None:
        logger.error("missing catalogue key %s", key)
        return key
    text = entry.get(lang) or entry[DEFAULT_LANG]
    if not params:
        return text
    return text.format(**{name: t(v.key, lang) if isinstance(v, Term) else v for name, v in params.items()})


class Refusal(Protocol):
    """What a domain error carries (backend.domain.errors.DomainError): a catalogue key and its parameters."""

    @property
    def code(self) -> str: ...

    @property
    def params(self) -> Mapping[str, object]: ...


def error_text(error: Refusal, lang: str = DEFAULT_LANG) -> str:
    """Why the backend refused, in a language."""
    return t(error.code, lang, **error.params)


# Around a command word, not part of it ("?" alone is a word of cmd.help, so the message as sent is tried first).
_EDGE_PUNCTUATION = " 。.,，!！?？~～…、;；:：\"“”'‘’"


def matches(key: str, text: str) -> bool:
    """True when a user's text is one of a key's words in any language (commands like 我的工单), with or
    without the punctuation a chat message ends with (是的。 我的工单？)."""
    words, plain = _command_words(key), text.strip().lower()
    return plain in words or plain.strip(_EDGE_PUNCTUATION) in words


@lru_cache(maxsize=256)
def _command_words(key: str) -> frozenset[str]:
    # Every chat message is matched against every command: the word sets are built once.
    return frozenset(w.strip().lower() for lang in LANGUAGES for w in t(key, lang).split("|"))
