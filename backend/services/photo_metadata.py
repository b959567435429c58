"""Photo metadata: the GPS position is read once, then EXIF (GPS, device, time) and XMP are stripped.

A phone photo carries where and with which device it was taken. gridbot keeps the position only as the
report's pin (when the resident gave none) and stores the picture without any of it. Bytes Pillow cannot
read carry no metadata Pillow could strip; they are stored as they came (type and size are checked first).
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

GPS_IFD = 0x8825
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}  # GIF has no EXIF to strip
_METADATA_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "comment", "photoshop")


@dataclass(frozen=True)
class CleanPhoto:
    """A photo's bytes without metadata, and the position it was taken at, if it said."""

    data: bytes
    lon: float | None = None
    lat: float | None = None


def clean_photo(data: bytes, mime: str) -> CleanPhoto:
    """Read the GPS position, then drop EXIF/XMP (the orientation is applied to the pixels first)."""
    fmt = _FORMATS.get(mime)
    if fmt is None:
        return CleanPhoto(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            exif = image.getexif()
            if not exif and not any(key in image.info for key in _METADATA_KEYS) and not getattr(image, "text", None):
                return CleanPhoto(data)
            position = _position(exif.get_ifd(GPS_IFD))
            upright = ImageOps.exif_transpose(image)
            out = io.BytesIO()
            upright.save(out, format=fmt, **_save_options(fmt))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as exc:
        logger.info("photo metadata left as is: %s", type(exc).__name__)
        return CleanPhoto(data)
    lon, lat = position if position else (None, None)
    return CleanPhoto(out.getvalue(), lon=lon, lat=lat)


def _save_options(fmt: str) -> dict[str, Any]:
    return {"quality": 90} if fmt in ("JPEG", "WEBP") else {}


def _position(gps: dict[int, Any]) -> tuple[float, float] | None:
    """(lon, lat) in degrees from an EXIF GPS block, or None."""
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lon = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lon, lat


def _degrees(dms: Any, ref: Any, negative: str) -> float:
    d, m, s = (float(x) for x in dms)
    value = d + m / 60 + s / 3600
    ref = ref.decode() if isinstance(ref, bytes) else str(ref)
    return -value if ref.strip().upper() == negative else value
