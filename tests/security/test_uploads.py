"""Upload checks beyond tests/backend/test_api.py: polyglots, disguised SVG/HTML, spoofed names and types.

Our rule (backend/services/attachments.py): the type is sniffed from the leading magic bytes only and must be
JPEG, PNG, WebP or GIF; the client's file name and Content-Type are ignored; the file is stored as <sha256>.<ext>
and served back with the sniffed type. Bytes after a valid image header are not inspected.
"""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient

from backend.api.app import create_app
from tests.conftest import DEMO_PASSWORD

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
    b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
SCRIPT = b"<html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
TICKET = {"text": "市民来电：建设路路灯不亮", "lon": 113.5895, "lat": 34.73925, "category_code": "street_lights"}


@pytest.fixture
def client(runtime, session_factory):  # type: ignore[no-untyped-def]
    with TestClient(create_app(runtime, session_factory)) as c:
        yield c


@pytest.fixture
def admin(client: TestClient) -> dict[str, str]:
    resp = client.post("/api/auth/token", data={"username": "ADM01", "password": DEMO_PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


def new_ticket(client: TestClient, headers: dict[str, str]) -> str:
    resp = client.post("/api/tickets", headers=headers, json=TICKET)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["number"])


def upload(client: TestClient, headers: dict[str, str], number: str, data: bytes, name: str, claimed: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/api/tickets/{number}/photos", headers=headers, files={"file": (name, io.BytesIO(data), claimed)}
    )


@pytest.mark.parametrize(
    ("data", "name", "claimed"),
    [
        (SVG, "photo.jpg", "image/jpeg"),
        (SVG, "photo.svg", "image/svg+xml"),
        (b"\xef\xbb\xbf" + SVG, "photo.png", "image/png"),
        (SCRIPT, "photo.png", "image/png"),
        (b"PK\x03\x04" + b"\x00" * 60, "photo.jpg", "image/jpeg"),  # zip / docx / apk
        (b"\x7fELF" + b"\x00" * 60, "photo.gif", "image/gif"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt " + b"\x00" * 40, "photo.webp", "image/webp"),
        (b"BM" + b"\x00" * 60, "photo.bmp", "image/bmp"),  # a real image type, but not one we accept
        (b"II*\x00" + b"\x00" * 60, "photo.tif", "image/tiff"),
    ],
)
def test_non_photos_are_refused_whatever_their_name_and_claimed_type(client, admin, data, name, claimed) -> None:  # type: ignore[no-untyped-def]
    number = new_ticket(client, admin)
    resp = upload(client, admin, number, data, name, claimed)
    assert resp.status_code == 422, resp.text
    assert client.get(f"/api/tickets/{number}", headers=admin).json()["attachments"] == []


@pytest.mark.parametrize(
    ("data", "sniffed"),
    [
        (PNG + SCRIPT, "image/png"),  # a valid PNG with an HTML payload after IEND
        (b"\x89PNG\r\n\x1a\n" + SCRIPT, "image/png"),  # only the PNG signature, then HTML
        (b"GIF89a/*\x00\x00*/=1;alert(1)//" + SCRIPT, "image/gif"),  # GIF/JavaScript polyglot
        (b"\xff\xd8\xff\xe0" + SCRIPT, "image/jpeg"),
    ],
)
def test_polyglots_are_stored_and_served_only_as_the_sniffed_image_type(client, admin, data, sniffed) -> None:  # type: ignore[no-untyped-def]
    number = new_ticket(client, admin)
    resp = upload(client, admin, number, data, "evil.html", "text/html")
    assert resp.status_code == 201, resp.text
    assert resp.json()["content_type"] == sniffed
    photo = client.get(f"/api/tickets/{number}/photos/{resp.json()['id']}", headers=admin)
    assert photo.status_code == 200
    assert photo.headers["content-type"] == sniffed
    assert photo.content == data


def test_client_file_name_cannot_choose_the_stored_path(client, admin, runtime) -> None:  # type: ignore[no-untyped-def]
    number = new_ticket(client, admin)
    resp = upload(client, admin, number, PNG, "../../../../tmp/pwned.html", "text/html")
    assert resp.status_code == 201, resp.text
    stored = [p for p in runtime.settings.upload_dir.rglob("*") if p.is_file()]
    assert [p.suffix for p in stored] == [".png"]
    assert all(p.parent == runtime.settings.upload_dir for p in stored)
    assert not any("pwned" in p.name for p in runtime.settings.upload_dir.parent.rglob("*"))


def test_photo_of_another_ticket_cannot_be_read_through_this_ticket(client, admin) -> None:  # type: ignore[no-untyped-def]
    first, second = new_ticket(client, admin), new_ticket(client, admin)
    photo_id = upload(client, admin, first, PNG, "a.png", "image/png").json()["id"]
    assert client.get(f"/api/tickets/{second}/photos/{photo_id}", headers=admin).status_code == 404
    assert client.get(f"/api/tickets/{first}/photos/{photo_id}", headers=admin).status_code == 200


def test_photo_download_requires_a_token(client, admin) -> None:  # type: ignore[no-untyped-def]
    number = new_ticket(client, admin)
    photo_id = upload(client, admin, number, PNG, "a.png", "image/png").json()["id"]
    assert client.get(f"/api/tickets/{number}/photos/{photo_id}").status_code == 401


def test_photo_download_forbids_content_sniffing(client, admin) -> None:  # type: ignore[no-untyped-def]
    number = new_ticket(client, admin)
    photo_id = upload(client, admin, number, PNG + SCRIPT, "a.png", "image/png").json()["id"]
    photo = client.get(f"/api/tickets/{number}/photos/{photo_id}", headers=admin)
    assert photo.headers.get("x-content-type-options") == "nosniff"
    assert photo.headers.get("content-disposition", "").startswith("attachment")
