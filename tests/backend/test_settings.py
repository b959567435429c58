"""Settings: placeholder secrets are refused outside development, the example file is complete, the outbox rate
limits parse from JSON (and bad JSON is refused)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from backend.settings import PROJECT_ROOT, Settings
from backend.workers.ratelimit import DEFAULT_LIMITS, ChannelLimits, Rate


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


def test_outbox_rate_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "GRIDBOT_WORKER_RATE_LIMITS", '{"telegram": {"channel": [1000, 1000]}, "wecom": {"recipient": null}}'
    )
    limits = Settings().outbox_rate_limits
    assert limits.of("telegram") == ChannelLimits(channel=Rate(1000.0, 1000.0), recipient=Rate(1.0, 1.0))
    assert limits.of("wecom") == ChannelLimits(channel=Rate(20.0, 20.0), recipient=None)
    assert limits.of("wechat") == DEFAULT_LIMITS["wechat"]


def test_outbox_rate_limits_default_to_the_platforms_and_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().outbox_rate_limits.per_channel == DEFAULT_LIMITS
    monkeypatch.setenv("GRIDBOT_WORKER_RATE_LIMITS_ENABLED", "false")
    assert Settings().outbox_rate_limits.of("telegram") is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ('{"telegram": {"channel": [1000, 1000]}', "is not valid JSON"),
        ('{"telgram": {"channel": [5]}}', "unknown channel (known: telegram, wechat"),
        ('{"telegram": {"per_chat": [1, 1]}}', "unknown keys ['per_chat']"),
        ('{"telegram": {"channel": [0, 1]}}', "telegram.channel: a rate needs per_second > 0"),
        ('{"telegram": {"channel": [1, 2, 3]}}', "expected [per_second, burst] or null"),
        ('{"telegram": {"channel": "fast"}}', "valid list"),
    ],
)
def test_bad_outbox_rate_limits_are_refused_at_start_up(monkeypatch: pytest.MonkeyPatch, value: str, says: str) -> None:
    monkeypatch.setenv("GRIDBOT_WORKER_RATE_LIMITS", value)
    with pytest.raises(ValidationError) as err:
        Settings()
    assert "worker_rate_limits" in str(err.value) and says in str(err.value)
