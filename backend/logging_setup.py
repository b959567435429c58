"""Logging set-up: one root handler, and personal data (phones, ID numbers, exact addresses) masked in every line."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Full-width digits, letters and punctuation map one character to one character, so a match found in the
# normalised text has the same span in the original. Chinese numerals (一三八…) count as digits only for phone and
# ID numbers: in addresses they would turn 一室一厅 or 三楼 into false matches.
_FULL_WIDTH = "０１２３４５６７８９Ｘｘ－（）\u3000"
_CHINESE_DIGITS = "〇零一二三四五六七八九幺"
_ANY_DIGIT = re.compile(f"[0-9０-９{_CHINESE_DIGITS}]")
_NORMALISE = str.maketrans(_FULL_WIDTH, "0123456789Xx-() ")
_NORMALISE_NUMERALS = str.maketrans(_FULL_WIDTH + _CHINESE_DIGITS, "0123456789Xx-() " + "001234567891")

_ID_NUMBER = re.compile(
    r"(?<![0-9])(?P<head>[1-9][0-9]{5})(?P<birth>(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))"
    r"(?P<tail>[0-9]{3}[0-9Xx])(?![0-9])"
)
_MOBILE = re.compile(
    r"(?<![0-9])(?P<cc>(?:\+|00)?86[ -]?)?(?P<head>1[3-9][0-9])[ -]?(?P<mid>[0-9]{4})[ -]?(?P<tail>[0-9]{4})"
    r"(?![0-9])"
)
_LANDLINE = re.compile(r"(?<![0-9])(?P<area>\(?0[1-9][0-9]{1,2}\)?)(?P<sep>[ -]?)(?P<local>[2-9][0-9]{6,7})(?![0-9])")
# A house number right after a road, street or lane name: 建设路123号, 花园路12-3号, 东里胡同5号.
_ROAD_NUMBER = re.compile(r"(?:(?<=[路街巷弄道])|(?<=胡同))[0-9]+(?:-[0-9]+)?(?=号)")
# Building, unit and room numbers: 3号楼, 5栋, 2单元, 502室, 12号院, and a bare room after a unit: 2单元502.
_BUILDING_PART = re.compile(r"(?<![0-9])[0-9]+(?=号楼|号院|栋|幢|单元|室|户)")
_BARE_ROOM = re.compile(r"(?:(?<=单元)|(?<=号楼)|(?<=栋)|(?<=幢))[0-9]{3,4}(?![0-9])")
_DASHED_ROOM = re.compile(r"(?<![0-9-])[0-9]{1,2}-[0-9]{1,2}-[0-9]{3,4}(?![0-9-])")


def _stars(text: str) -> str:
    return re.sub(r"[0-9]", "*", text)


def _id_number(m: re.Match[str]) -> str:
    return f"{m['head']}{'*' * 8}{m['tail']}"


def _mobile(m: re.Match[str]) -> str:
    return f"{m['cc'] or ''}{m['head']}****{m['tail']}"


def _landline(m: re.Match[str]) -> str:
    return f"{m['area']}{m['sep']}****{m['local'][-4:]}"


# (pattern, replacement, whether Chinese numerals count as digits), most specific first.
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str], bool]] = [
    (_ID_NUMBER, _id_number, True),
    (_MOBILE, _mobile, True),
    (_LANDLINE, _landline, True),
    (_ROAD_NUMBER, lambda m: "**", False),
    (_DASHED_ROOM, lambda m: _stars(m[0]), False),
    (_BARE_ROOM, lambda m: _stars(m[0]), False),
    (_BUILDING_PART, lambda m: _stars(m[0]), False),
]


def mask_pii(text: str) -> str:
    """The text with mobile and landline numbers, resident ID numbers and house/room numbers masked."""
    if not text or not _ANY_DIGIT.search(text):
        return text
    normal = text.translate(_NORMALISE)
    with_numerals = text.translate(_NORMALISE_NUMERALS)
    spans: list[tuple[int, int, str]] = []
    for pattern, replace, numerals in _RULES:
        for m in pattern.finditer(with_numerals if numerals else normal):
            start, end = m.span()
            if any(start < e and s < end for s, e, _ in spans):
                continue  # an earlier, more specific rule already masked this part
            spans.append((start, end, replace(m)))
    if not spans:
        return text
    out: list[str] = []
    pos = 0
    for start, end, replacement in sorted(spans):
        out.append(text[pos:start])
        out.append(replacement)
        pos = end
    out.append(text[pos:])
    return "".join(out)


class PiiMaskingFilter(logging.Filter):
    """Masks personal data in a record's message, arguments, traceback and stack before any handler formats it."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place with its personal data masked; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break the caller, nor leak the raw arguments
            message = f"{record.msg} (unformattable arguments: {record.args!r})"
        record.msg = mask_pii(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_pii(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_pii(record.stack_info)
        return True


def _level(level: str) -> int:
    value = logging.getLevelName(level.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r}")
    return value


def configure_logging(level: str) -> None:
    """Set the root level, add a stderr handler if there is none, and mask personal data on every root handler."""
    root = logging.getLogger()
    root.setLevel(_level(level))
    if not root.handlers:
        stderr = logging.StreamHandler()
        stderr.setFormatter(logging.Formatter(LOG_FORMAT))
        root.addHandler(stderr)
    for handler in root.handlers:
        if not any(isinstance(f, PiiMaskingFilter) for f in handler.filters):
            handler.addFilter(PiiMaskingFilter())


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """A logging dictConfig for `uvicorn.run(log_config=...)`: applied in every worker process, masking included."""
    name = logging.getLevelName(_level(level))
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"pii": {"()": f"{__name__}.PiiMaskingFilter"}},
        "formatters": {"default": {"format": LOG_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["pii"]}},
        "root": {"level": name, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"level": name, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": name, "handlers": [], "propagate": True},
            "uvicorn.access": {"level": name, "handlers": [], "propagate": True},
        },
    }
