"""Check platform XML with defusedxml before any SDK parses it: no DTD, so no XXE and no entity bombs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

# A real message is a few KB; anything far larger is not from WeChat.
MAX_XML_BYTES = 256 * 1024


class BadXML(ValueError):
    """The body is not a well-formed, DTD-free <xml> document of flat fields."""


def safe_fields(body: bytes | str) -> dict[str, str]:
    """The top-level fields of a platform <xml> message, refusing DTDs, entities and malformed XML."""
    raw = body.encode() if isinstance(body, str) else body
    if len(raw) > MAX_XML_BYTES:
        raise BadXML("xml too large")
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ET.ParseError, DefusedXmlException, UnicodeError) as exc:
        raise BadXML(f"refused xml: {type(exc).__name__}") from exc
    if root.tag != "xml":
        raise BadXML("root element is not <xml>")
    return {child.tag: (child.text or "") for child in root}
