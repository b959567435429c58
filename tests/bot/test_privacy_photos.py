"""A photo sent before the report: its EXIF position becomes the pin, then the stored file has no EXIF at all."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db.models import Attachment, Ticket
from backend.runtime import Runtime
from bot.messages import Inbound, InboundKind
from tests.bot.drivers import Driver, driver  # noqa: F401  (the fixture)

LON, LAT = 113.5895, 34.73925  # in grid LC010101


def _dms(value: float) -> tuple[float, float, float]:
    minutes, seconds = divmod(value * 3600, 60)
    degrees, minutes = divmod(minutes, 60)
    return (degrees, minutes, round(seconds, 4))


def phone_photo() -> bytes:
    """A JPEG as a phone writes it: maker, model and where it was taken."""
    image = Image.new("RGB", (16, 12), (90, 90, 90))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "ACME", "ACME-PHONE-9"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: _dms(LAT), 3: "E", 4: _dms(LON)})
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_photo_position_places_the_report_and_is_then_stripped(
    driver: Driver,  # noqa: F811
    session_factory: sessionmaker[Session],
    runtime: Runtime,
) -> None:
    who = ("resident", "pia")
    driver.send(who, Inbound("", "", InboundKind.image, image=phone_photo(), image_ref="photo-gps"))
    driver.send(who, Inbound("", "", InboundKind.text, text="垃圾桶满了好几天没人清运，臭得不行"))
    with session_factory() as session:
        ticket = session.scalars(select(Ticket).order_by(Ticket.id.desc())).first()
        assert ticket is not None
        assert ticket.grid_code == "LC010101"
        assert ticket.lon == pytest.approx(LON, abs=1e-4) and ticket.lat == pytest.approx(LAT, abs=1e-4)
        [photo] = session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id)).all()
        stored = (runtime.settings.upload_dir / photo.path).read_bytes()
    assert b"ACME" not in stored and not Image.open(io.BytesIO(stored)).getexif()
