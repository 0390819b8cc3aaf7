"""Every knob in one place, read from the environment (VIGIL_*), with defaults that work as they are."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore")

    # SQLite file by default; set e.g. postgresql+psycopg://user@host/db for PostgreSQL.
    database_url: str = "sqlite:///var/vigil.db"
    host: str = "127.0.0.1"
    port: int = 8000
    # Request bodies above this are refused with 413 before they are read in full.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Per-viewer WebSocket queue: a client this far behind is dropped, never the server.
    stream_queue: int = Field(default=1000, ge=10)
    # Token look-ups are cached this long; a revoked token stops working within it.
    token_cache_s: float = Field(default=30.0, ge=0)
    # Rule tuning
    stale_after_s: float = Field(default=600.0, gt=0)
    default_silence_s: float = Field(default=300.0, gt=0)
    log_level: str = "INFO"
    # Logins: a password gives a short-lived bearer token and a refresh token for the shift; wrong
    # passwords in a row lock the account for a while.
    access_token_s: float = Field(default=900.0, gt=0)
    refresh_token_s: float = Field(default=43_200.0, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_lock_s: float = Field(default=900.0, ge=0)
    # Where people reach this server (links in pushes); default http://host:port.
    public_url: str | None = None
    # Human-facing local time (CAP `sent`, replay output) and the dispatch sender's names.
    timezone: str = "Asia/Seoul"
    dispatch_sender: str = "vigil@localhost"
    dispatch_source: str = "/vigil"
    # The simplest deployment: one dispatch target that receives every push.
    dispatch_url: str | None = None
    dispatch_secret: str | None = None  # whsec_...
    dispatch_timeout_s: float = Field(default=5.0, gt=0)
    dispatch_backoff_s: float = Field(default=1.0, gt=0)
    dispatch_backoff_max_s: float = Field(default=60.0, gt=0)
    dispatch_alarm_after_s: float = Field(default=120.0, gt=0)
    dispatch_ack_timeout_s: float = Field(default=60.0, gt=0)
    # The fallback channel for pushes that do not get through: an HTTP gateway (e.g. SMS), else a log line.
    fallback_url: str | None = None
    # The web apps: an optional map tile server (e.g. https://tiles.example/{z}/{x}/{y}.png; none by
    # default: the apps draw the municipality outlines offline) and the first language (ko or en).
    tile_url: str | None = None
    language: str = Field(default="ko", pattern="^(ko|en)$")

    def link_base(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
