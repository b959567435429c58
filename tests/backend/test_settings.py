"""Settings: placeholder secrets are refused outside development, and the example file is complete."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from backend.settings import PROJECT_ROOT, Settings


def test_production_refuses_placeholder_secrets():
    with pytest.raises(ValidationError) as err:
        Settings(env="production")
    assert "GRIDBOT_SECRET_KEY" in str(err.value)


def test_production_accepts_real_secrets():
    secrets = {
        name: "x" * 40 for name in ("secret_key", "wechat_token", "wecom_token", "telegram_secret", "open311_api_key")
    }
    assert Settings(env="production", **secrets).env == "production"


def test_example_file_names_only_known_settings():
    names = [
        line.split("=", 1)[0]
        for line in (PROJECT_ROOT / "config" / "settings.example.env").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    fields = {f"GRIDBOT_{n.upper()}" for n in Settings.model_fields}
    assert names and set(names) <= fields
