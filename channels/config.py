"""Channel settings from the environment (no URP_ prefix: these are the providers' own names)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_api_base: str | None = None  # tests point the real client at a fake Twilio on 127.0.0.1

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base: str | None = None  # e.g. http://127.0.0.1:9999/bot for a fake Telegram

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "URP Comune <urp@comune.example.it>"
    smtp_starttls: bool = True

    rasa_timeout_seconds: float = 15.0


@lru_cache
def get_channel_settings() -> ChannelSettings:
    return ChannelSettings()
