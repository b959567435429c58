"""Secrets come only from settings: no credential literal in the code, no environment reads beside Settings, and
production refuses every placeholder. Also: passwords are stored as argon2id hashes and tokens expire.

The scan reads the syntax tree of every module in backend/, bot/ and nlp/ (comments and docstrings never count):
a non-empty string literal bound to a credential-like name (assignment, keyword argument, default value, dict
entry, comparison) or passed as the key of a signing or crypto call is a hard-coded secret. backend/settings.py,
where the development placeholders are the field defaults, is the one place allowed to hold such literals.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.db.models import Staff
from backend.services.security import issue_token, read_token, verify_password
from backend.settings import _SECRET_FIELDS, DEV_PLACEHOLDER, PROJECT_ROOT, Settings
from tests.conftest import DEMO_PASSWORD, START

PACKAGES = ("backend", "bot", "nlp")
SETTINGS_MODULE = Path("backend/settings.py")
SECRET_NAME = re.compile(r"(?i)(^|_)(token|secret|password|passwd|api_?key|aes_?key|secret_?key|private_?key)s?$")
# Calls whose key argument (by position) is a credential: dotted name → argument index.
SECRET_SINKS = {
    "jwt.encode": 1,
    "jwt.decode": 1,
    "hmac.new": 0,
    "hmac.compare_digest": 1,
    "secrets.compare_digest": 1,
    "SecretStr": 0,
    "WeChatCrypto": 0,
    "check_signature": 0,
}
ALLOWED = {
    # `gridbot load-demo` sets it only when GRIDBOT_ENV=development (the README says so).
    (Path("bot/main.py"), "DEMO_PASSWORD"),
}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _literal(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str | bytes) and len(node.value) > 0


def _bindings(tree: ast.AST) -> Iterator[tuple[str, ast.AST | None]]:
    """(name, value) for every place a value is bound to or compared with a name."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                yield _name(target) or "", node.value
        elif isinstance(node, ast.AnnAssign):
            yield _name(node.target) or "", node.value
        elif isinstance(node, ast.keyword) and node.arg:
            yield node.arg, node.value
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            positional = args.posonlyargs + args.args
            for arg, default in zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True):
                yield arg.arg, default
            for arg, kw_default in zip(args.kwonlyargs, args.kw_defaults, strict=True):
                yield arg.arg, kw_default
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                yield (_name(key) if key is not None else "") or "", value
        elif isinstance(node, ast.Compare):
            for left, right in zip([node.left, *node.comparators], node.comparators, strict=False):
                yield _name(left) or "", right
                yield _name(right) or "", left
        elif isinstance(node, ast.Call):
            index = SECRET_SINKS.get(_dotted(node.func))
            if index is not None and len(node.args) > index:
                yield f"{_dotted(node.func)}(key)", node.args[index]


def hard_coded_secrets(source: str) -> list[tuple[int, str]]:
    """(line, name) of every credential literal in a module's source."""
    found = []
    for name, value in _bindings(ast.parse(source)):
        sink = name.endswith("(key)")
        if (sink or SECRET_NAME.search(name)) and _literal(value):
            assert value is not None
            found.append((value.lineno, name))
    return sorted(set(found))


def _modules() -> Iterator[tuple[Path, str]]:
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            yield path.relative_to(PROJECT_ROOT), path.read_text(encoding="utf-8")


def test_the_scan_finds_hard_coded_secrets_and_leaves_settings_reads_alone() -> None:
    flagged = hard_coded_secrets("""
token = "abc"
WECHAT_TOKEN: str = "t0k"
client = Client(app_secret="s3cret")
def login(password="hunter2"): ...
headers = {"api_key": "k-123"}
if secret_key == "fixed": ...
jwt.encode(claims, "signing-key", algorithm="HS256")
hmac.new(b"raw-key", msg, "sha256")
crypto = WeChatCrypto("tok", aes, app_id)
""")
    assert sorted({line for line, _ in flagged}) == list(range(2, 11))
    assert (
        hard_coded_secrets("""
token = settings.wechat_token.get_secret_value()
secret = os.urandom(16)
password: str = ""
jwt.encode(claims, secret, algorithm="HS256")
mapping = {"token_url": "https://example.org/token", "kind": "secret"}  # names and texts, not credentials
cache_key = "outbox:lease"
digest = hashlib.new("sha256", data)
raw = text.encode("utf-8", "ignore")
""")
        == []
    )


def test_no_credential_literals_outside_settings() -> None:
    found = [
        f"{path}:{line} {name}"
        for path, source in _modules()
        if path != SETTINGS_MODULE
        for line, name in hard_coded_secrets(source)
        if (path, name) not in ALLOWED
    ]
    assert not found, "secrets must come from backend/settings.py (GRIDBOT_*):\n" + "\n".join(found)


def test_allowed_exceptions_still_exist() -> None:
    present = {(path, name) for path, source in _modules() for _, name in hard_coded_secrets(source)}
    assert present >= ALLOWED, f"stale entries in ALLOWED: {ALLOWED - present}"


def _environment_reads(source: str) -> list[int]:
    """Lines reading the process environment: os.getenv, os.environ[...] / .get / any other use, except
    os.environ.setdefault of a literal third-party (non-GRIDBOT_) name, which configures a library."""
    lines = []
    tree = ast.parse(source)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and _name(node.func.value) == "environ"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and not str(node.args[0].value).startswith("GRIDBOT_")
        ):
            allowed.add(id(node.func.value))
    for node in ast.walk(tree):
        if (
            _name(node) in ("environ", "getenv", "environb", "getenvb")
            and isinstance(node, ast.Attribute | ast.Name)
            and id(node) not in allowed
        ):
            lines.append(node.lineno)
    return lines


def test_only_settings_reads_the_environment() -> None:
    assert _environment_reads('import os\nx = os.getenv("GRIDBOT_SECRET_KEY")\ny = os.environ["HOME"]\n') == [2, 3]
    assert _environment_reads('import os\nos.environ.setdefault("PTB_TIMEDELTA", "true")\n') == []
    readers = [
        f"{path}:{line}"
        for path, source in _modules()
        if path != SETTINGS_MODULE
        for line in _environment_reads(source)
    ]
    assert not readers, "read configuration through backend.settings.get_settings():\n" + "\n".join(readers)


def _real_secrets() -> dict[str, SecretStr]:
    return {name: SecretStr(f"a-real-{name}-of-forty-characters-0123456789") for name in _SECRET_FIELDS}


@pytest.mark.parametrize("weak", [DEV_PLACEHOLDER, ""])
@pytest.mark.parametrize("field", _SECRET_FIELDS)
def test_production_refuses_each_placeholder_secret(field: str, weak: str) -> None:
    values = {**_real_secrets(), field: SecretStr(weak)}
    with pytest.raises(ValidationError, match=f"GRIDBOT_{field.upper()}"):
        Settings(_env_file=None, env="production", **values)  # type: ignore[call-arg]
    assert Settings(_env_file=None, env="production", **_real_secrets()).env == "production"  # type: ignore[call-arg]


def test_every_secret_with_a_placeholder_default_is_checked_in_production() -> None:
    """A new SecretStr field defaulting to the placeholder must join _SECRET_FIELDS; the others default to empty
    (an optional channel that stays off until its secret is set)."""
    for name, field in Settings.model_fields.items():
        if field.annotation is SecretStr:
            default = field.default.get_secret_value()
            assert default in (DEV_PLACEHOLDER, ""), f"{name} has a real-looking default"
            assert (default == DEV_PLACEHOLDER) == (name in _SECRET_FIELDS), name


# --- credentials at rest and in flight -------------------------------------------------------------------------


def test_staff_passwords_are_stored_as_argon2id_hashes(session: Session) -> None:
    row = session.scalars(select(Staff).where(Staff.code == "ADM01")).one()
    assert row.password_hash is not None and row.password_hash.startswith("$argon2id$")
    assert DEMO_PASSWORD not in row.password_hash
    assert verify_password(DEMO_PASSWORD, row.password_hash)
    assert not verify_password(DEMO_PASSWORD + "x", row.password_hash)
    assert not verify_password(DEMO_PASSWORD, "not-a-hash")  # a broken stored hash is a failed login


def test_a_token_names_only_the_staff_id_and_role_and_expires() -> None:
    key = "k" * 40
    token = issue_token(subject="7", secret=key, ttl_minutes=60, now=START, role="admin")
    assert set(read_token(token, secret=key, now=START)) == {"sub", "role", "iat", "exp"}
    with pytest.raises(jwt.ExpiredSignatureError):
        read_token(token, secret=key, now=START + timedelta(minutes=60))
    with pytest.raises(jwt.InvalidSignatureError):
        read_token(token, secret="another-key-of-forty-characters-0123456", now=START)
