"""Password hashing (argon2 via pwdlib) and expiring bearer tokens (JWT)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()


def hash_password(password: str) -> str:
    """An argon2 hash of a password."""
    return _hasher.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """True when the password matches the stored hash."""
    if not hashed:
        return False
    try:
        return _hasher.verify(password, hashed)
    except Exception:  # noqa: BLE001 - a malformed stored hash is a failed login, not a crash
        return False


def issue_token(*, subject: str, secret: str, ttl_minutes: int, now: datetime, **claims: Any) -> str:
    """A signed token that expires after ttl_minutes."""
    payload = {
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=ttl_minutes)).timestamp()),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm="HS256")


def read_token(token: str, *, secret: str, now: datetime) -> dict[str, Any]:
    """The claims of a valid token unexpired at `now` (the runtime's clock); raises jwt.PyJWTError otherwise."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False},
    )
    if int(claims["exp"]) <= int(now.timestamp()):
        raise jwt.ExpiredSignatureError("token expired")
    return claims
