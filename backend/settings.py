"""The one settings object: every knob comes from the environment (prefix GRIDBOT_) or `.env`."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from backend.domain.triage import Thresholds
from backend.workers.ratelimit import RateLimits

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_PLACEHOLDER = "dev-only-change-me-this-is-not-a-secret"
DEFAULT_TIMEZONE = "Asia/Shanghai"

_SECRET_FIELDS = (
    "secret_key",
    "wechat_token",
    "wecom_token",
    "telegram_secret",
    "open311_api_key",
)


class Settings(BaseSettings):
    """Validated configuration for every gridbot process."""

    model_config = SettingsConfigDict(env_prefix="GRIDBOT_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'gridbot.db'}"
    config_dir: Path = PROJECT_ROOT / "config"
    data_dir: Path = PROJECT_ROOT / "var"
    model_dir: Path = PROJECT_ROOT / "var" / "models"
    log_level: str = "INFO"
    # env GRIDBOT_TIMEZONE: the local time shown in chat, notifications, the dashboard and exports, and the local
    # day of ticket numbers, digests and statistics. SLA working hours follow calendar.yaml (keep them equal).
    timezone: str = DEFAULT_TIMEZONE

    # The dashboard map: the city's own base layer (basemap.geojson) always works offline; a city that runs a
    # tile server sets its URL template (e.g. http://tiles.example.gov/{z}/{x}/{y}.png) and attribution.
    map_tile_url: str = ""
    map_tile_attribution: str = ""

    # Security
    secret_key: SecretStr = SecretStr(DEV_PLACEHOLDER)
    token_ttl_minutes: int = 8 * 60
    upload_max_bytes: int = 5 * 1024 * 1024
    request_max_bytes: int = 8 * 1024 * 1024
    # Where residents reach this service's public pages (the 向群众汇报 report links to /public/reports/…).
    public_url: str = "http://127.0.0.1:8000"
    # When the worker pushes the weekly public report to the residents who asked for it (local time, daily
    # check; each subscriber gets one report per ISO week).
    public_report_time: str = "09:00"
    # How often a server or worker looks for a city `gridbot import-city` installed (seconds).
    city_check_seconds: float = 1.0
    # How often a server, bot or worker looks for a model version `gridbot retrain`/`model activate` made active.
    model_check_seconds: float = 1.0
    # A signed webhook request (WeChat, WeCom) whose timestamp is further than this from our clock is refused.
    webhook_replay_window_seconds: int = Field(default=300, ge=30)
    # Per chat sender: messages a minute on average, and how many may come at once (0 switches the limit off).
    chat_rate_per_minute: float = Field(default=20.0, ge=0)
    chat_rate_burst: int = Field(default=15, ge=1)

    # Ticket rules
    reopen_limit: int = 2
    # Working hours a 重办 (rework after a failed check) gets; unset: the category's own time limit again.
    rework_hours: float | None = Field(default=None, gt=0)
    duplicate_window_hours: int = 72
    # 分流 (backend/domain/triage.py): a predicted category at or above the dispatch confidence goes out at once;
    # between the two the reporter is asked to pick; below the low one (or no category, no place) a person decides
    # at the triage desk. Defaults from bench.triage on real messages (BENCHMARKS.md).
    dispatch_confidence_threshold: float = Field(default=0.9, ge=0, le=1)
    low_confidence_threshold: float = Field(default=0.4, ge=0, le=1)
    # An urgent report's alarm climbs a level (community → street → district) when nobody acknowledges it in time.
    alarm_ack_minutes: float = Field(default=5.0, gt=0)
    # A report neither dispatched nor on a desk after this long is put on the district desk by the sweep.
    unowned_sweep_seconds: int = Field(default=60, ge=10)
    # A resident asked to pick a category, name the place or confirm their home who does not answer within
    # this many minutes: the report is stored and goes to the triage desk (before the dialogue would expire).
    triage_answer_minutes: float = Field(default=10.0, gt=0)
    # Categories whose reports need a photo as evidence: the bot asks for one when the report came without.
    photo_evidence_categories: list[str] = [
        "illegal_construction",
        "illegal_ads",
        "street_vending",
        "construction_waste",
        "road_damage",
        "building_leak",
    ]
    ticket_number_prefix: str = "GB"

    # Conversations
    session_idle_minutes: int = 30

    # WeChat Official Account
    wechat_token: SecretStr = SecretStr(DEV_PLACEHOLDER)
    wechat_app_id: str = "wx0000000000000000"
    wechat_app_secret: SecretStr = SecretStr("")
    wechat_aes_key: str = ""
    wechat_api_base: str = "https://api.weixin.qq.com/cgi-bin/"
    wechat_template_id: str = ""

    # WeCom (企业微信)
    wecom_corp_id: str = "ww0000000000000000"
    wecom_agent_id: int = 1000002
    wecom_secret: SecretStr = SecretStr("")
    wecom_token: SecretStr = SecretStr(DEV_PLACEHOLDER)
    wecom_aes_key: str = ""
    wecom_api_base: str = "https://qyapi.weixin.qq.com/cgi-bin/"

    # Telegram
    telegram_token: SecretStr = SecretStr("")
    telegram_secret: SecretStr = SecretStr(DEV_PLACEHOLDER)
    telegram_api_base: str = "https://api.telegram.org/bot"

    # Open311
    open311_api_key: SecretStr = SecretStr(DEV_PLACEHOLDER)
    open311_jurisdiction: str = "demo.gridbot"  # empty: any jurisdiction_id is accepted
    open311_contact: str = ""  # discovery: who to ask about this endpoint
    open311_key_service: str = ""  # discovery: where a client gets an api_key

    # Retention of personal data (see docs/PRIVACY.md): days after a ticket is finished (closed, cancelled,
    # merged) before its personal fields are anonymised and its photos deleted; days a chat transcript
    # (dialogue state, sent messages, stored replies) is kept. The job runs daily in `gridbot worker`.
    retention_ticket_days: int = Field(default=365, ge=1)
    retention_photo_days: int = Field(default=180, ge=1)
    retention_transcript_days: int = Field(default=30, ge=1)
    retention_batch_size: int = Field(default=5000, ge=1)
    retention_time: str = Field(default="03:00", pattern=r"^\d{2}:\d{2}$")

    # The durable inbox (RELIABILITY.md): with it on, the webhooks (WeChat, WeCom, Telegram) store each message
    # and answer at once, and inbox processors run the chat turns: `gridbot process` processes, plus
    # `inbox_serve_processors` threads inside `gridbot serve` (0 when separate processes do the work).
    inbox_enabled: bool = False
    inbox_serve_processors: int = Field(default=1, ge=0)
    inbox_batch_size: int = Field(default=50, ge=1)
    inbox_lease_seconds: int = Field(default=60, ge=1)
    inbox_max_attempts: int = Field(default=5, ge=1)
    # How long a WeChat/WeCom webhook waits for a processor to finish the turn, so the answer goes back as the
    # passive reply (WeChat retries after 5 s); later answers go through the outbox. A processor of another
    # process counts on PostgreSQL only (backend/usecases/passive_replies.py).
    inbox_reply_wait_seconds: float = Field(default=4.0, ge=0.0, le=4.5)
    # Back-pressure: past this many unfinished inbox messages a webhook stores the message and says at once
    # that the answer will come later (0: no bound).
    inbox_backlog_bound: int = Field(default=1000, ge=0)

    # Workers
    worker_lease_seconds: int = 60
    worker_batch_size: int = 100
    # The outbox's send rate limits (backend/workers/ratelimit.py DEFAULT_LIMITS: the platforms' documented
    # quotas), overridden per channel as JSON: [per_second, burst] or null for no limit, for the whole account
    # ("channel") or each recipient, e.g. {"telegram": {"channel": [1000, 1000]}} for a bot with paid broadcasts.
    # Every worker must use the same values (they share the schedules). false switches every limit off (tests,
    # benchmarks against fake platforms); a platform's own "retry after" is obeyed either way.
    worker_rate_limits: Annotated[dict[str, dict[str, list[float] | None]], NoDecode] = {}
    worker_rate_limits_enabled: bool = True
    sla_tick_seconds: int = 60
    digest_time: str = Field(default="08:00", pattern=r"^\d{2}:\d{2}$")

    @field_validator("worker_rate_limits", mode="before")
    @classmethod
    def _rate_limits_from_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return {}
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            example = '{"telegram": {"channel": [1000, 1000]}}'
            raise ValueError(f"GRIDBOT_WORKER_RATE_LIMITS is not valid JSON ({exc}); e.g. {example}") from None

    @field_validator("worker_rate_limits", mode="after")
    @classmethod
    def _rate_limits_make_sense(
        cls, value: dict[str, dict[str, list[float] | None]]
    ) -> dict[str, dict[str, list[float] | None]]:
        try:
            RateLimits.from_config(value)
        except ValueError as exc:
            raise ValueError(f"GRIDBOT_WORKER_RATE_LIMITS: {exc}") from None
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets_outside_development(self) -> Settings:
        if self.env == "development" or self.env == "test":
            return self
        weak = [name for name in _SECRET_FIELDS if getattr(self, name).get_secret_value() in ("", DEV_PLACEHOLDER)]
        if weak:
            names = ", ".join(f"GRIDBOT_{n.upper()}" for n in weak)
            raise ValueError(f"set real secrets before running in {self.env}: {names}")
        return self

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Settings:
        self.triage_thresholds  # noqa: B018 (building them checks ask <= dispatch)
        return self

    @property
    def triage_thresholds(self) -> Thresholds:
        """The confidences of the triage gate."""
        return Thresholds(dispatch=self.dispatch_confidence_threshold, ask=self.low_confidence_threshold)

    @property
    def outbox_rate_limits(self) -> RateLimits:
        """The outbox workers' rate limits: the defaults, these overrides, or none when switched off."""
        return RateLimits.from_config(self.worker_rate_limits, enabled=self.worker_rate_limits_enabled)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"


@lru_cache
def get_settings() -> Settings:
    """Build the settings once per process."""
    return Settings()
