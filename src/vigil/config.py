"""Every knob in one place, read from the environment (VIGIL_*), with defaults that work as they are."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from vigil.rules.tuning import Tuning

if TYPE_CHECKING:  # the dispatch stack is loaded by what dispatches, not by every command
    from vigil.dispatch.deliverer import DeliverySettings
    from vigil.dispatch.outbox import OutboxSettings
    from vigil.notify.sender import SenderSettings
    from vigil.notify.staging import NotifySettings

# The rule knobs below default to the rules' own figures (rules/tuning.py): one definition each.
_RULES = Tuning()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_", extra="ignore")

    # SQLite file by default; set e.g. postgresql+psycopg://user@host/db for PostgreSQL.
    database_url: str = "sqlite:///var/vigil.db"
    host: str = "127.0.0.1"
    port: int = 8000
    # The device gateway (vigil/gateway): a TCP port per protocol, 0 to disable one. They listen on
    # `device_host`, the HTTP host unless set (0.0.0.0 for devices out in the field).
    gt06_port: int = Field(default=5023, ge=0, le=65535)
    watch_port: int = Field(default=5093, ge=0, le=65535)
    teltonika_port: int = Field(default=5027, ge=0, le=65535)
    device_host: str | None = None
    # A device connection that says nothing for this long is closed (devices send heartbeats every
    # few minutes); past `device_max_connections` a new one is closed at once.
    device_idle_s: float = Field(default=900.0, gt=0)
    device_max_connections: int = Field(default=20_000, ge=1)
    # OwnTracks phones over MQTT (gateway/mqtt.py), when set: mqtt://user:password@host:1883, or
    # mqtts:// for TLS (checked against the system's CAs, or `mqtt_ca_file`). A stable client id
    # keeps the broker's session, and the messages queued in it, across a restart of this server.
    mqtt_url: str | None = None
    mqtt_client_id: str | None = None
    mqtt_ca_file: str | None = None
    # Cluster mode (vigil/cluster, docs/scale-out.md): on when `nats_url` is set and the database
    # is PostgreSQL. Streams, consumers and buckets are named under `cluster_name`, so several
    # installations (or test runs) can share one NATS server; `partitions` is fixed for the
    # lifetime of a cluster's log (a report's partition is part of its subject).
    nats_url: str | None = None
    cluster_name: str = Field(default="vigil", pattern=r"^[A-Za-z0-9_-]{1,40}$")
    partitions: int = Field(default=64, ge=1, le=4096)
    # A worker that has not said it is alive for this long is taken for dead: its partitions go
    # to the others. Workers say so (and look at the others) every second, or every third of it.
    worker_lease_s: float = Field(default=5.0, ge=2.0, le=300.0)
    # A worker's own /metrics (Prometheus text) on this port of `host`; 0: none. Counts only.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    # Request bodies above this are refused with 413 before they are read in full.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # A subject's photo (PUT /v1/subjects/{id}/photo): JPEG or PNG, at most this many bytes (and
    # never more than max_body_bytes, which the edge enforces first).
    photo_max_bytes: int = Field(default=1_000_000, ge=1024, le=10_000_000)
    # The emergency desk the profile's call link rings (112 in Korea; a control room's direct line).
    desk_phone: str = Field(default="112", pattern=r"^\+?[0-9][0-9 ()-]{1,30}$")
    # Per-viewer WebSocket queue: a client this far behind is dropped, never the server.
    stream_queue: int = Field(default=1000, ge=10)
    # Whole-map viewers get positions in batches, at most one message this often, the newest fix per
    # person winning (alert changes are never held back). 0: every fix its own message.
    stream_batch_s: float = Field(default=0.25, ge=0, le=10)
    # WebSocket per-message compression (permessage-deflate). Off: it cost most of the server's CPU
    # for the live streams, per viewer, and positions are small; see docs/benchmarks.md.
    stream_compression: bool = False
    # Token look-ups are cached this long (0: none). A revocation still takes effect at once: every
    # server on the database hears of it before it answers from the cache (store/revocations.py).
    token_cache_s: float = Field(default=30.0, ge=0)
    # Rule tuning (handed to the rules as `tuning()`)
    stale_after_s: float = Field(default=_RULES.stale_after_s, gt=0)
    default_silence_s: float = Field(default=_RULES.default_silence_s, gt=0)
    # A device's own time is not believed when it is this far ahead of the server (or of the newest
    # receipt), or this far behind the device's last message; such a report is judged at receipt
    # and marked clock_suspect (an alarm is never refused for its time). rules/device_clock.py.
    clock_future_limit_s: float = Field(default=_RULES.clock_future_s, gt=0)
    clock_behind_limit_s: float = Field(default=_RULES.clock_behind_s, gt=0)
    # A fix this late (measured this long before it arrives) is still judged against where the other
    # party was then (from memory, or read back from the store); older ones are only stored.
    late_horizon_s: float = Field(default=_RULES.late_horizon_s, gt=0)
    # A pair that leaves every proximity tier keeps its alert this long before it clears (a pending
    # clear; falling back in within it says nothing new). 0: clear at once. rules/proximity.py.
    tier_hold_s: float = Field(default=_RULES.tier_hold_s, ge=0)
    # A fix implying a faster move than this since the same device's last good fix is put aside as
    # impossible (rules/movement.py). The dispatch benchmark raises it: its driven subjects jump.
    move_max_mps: float = Field(default=_RULES.move_max_mps, gt=0)
    log_level: str = "INFO"
    # Logins: a password gives a short-lived bearer token and a refresh token for the shift; wrong
    # passwords in a row lock the account for a while.
    access_token_s: float = Field(default=900.0, gt=0)
    refresh_token_s: float = Field(default=43_200.0, gt=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_lock_s: float = Field(default=900.0, ge=0)
    # Where people reach this server (live-track links); unset: the address a request came to, and
    # for pushes the address the server really listens on.
    public_url: str | None = None
    # A live-track link lives at most this long (a unit's shift); it ends earlier when its holder is
    # taken off the incident, or 15 minutes after the incident closes.
    incident_link_s: float = Field(default=43_200.0, gt=0)
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
    # --- waking her (notify/): Web Push to the victim app and text messages to her phone ---
    # The VAPID key pair (RFC 8292) that signs every push: a P-256 private key, PEM or raw base64url,
    # inline or in a file; with neither, the server makes a key file on first start (mode 0600)
    # beside the audit key's default (`<database>.vapid.pem`) and reuses it.
    vapid_private_key: SecretStr | None = None
    vapid_key_file: Path | None = None
    # Who runs this server, in each push's VAPID claims (a push service writes here about abuse).
    vapid_subject: str = Field(default="mailto:vigil@localhost", pattern=r"^(mailto:|https://)\S+$")
    # How long a push service keeps a push for a phone that is off (seconds; RFC 8030 TTL).
    push_ttl_s: int = Field(default=3600, ge=0, le=2_419_200)
    # Push endpoints must be https://; tests and a local push service may allow http:// on loopback.
    push_allow_loopback_http: bool = False
    # The SMS gateway (docs/notifications.md): POST JSON {id, to, text} with this bearer token.
    sms_url: str | None = None
    sms_token: SecretStr | None = None
    # A text when he comes within the warning distance, then again each time the distance has
    # changed by this much (closer or farther) since the last text.
    sms_step_m: float = Field(default=100.0, gt=0)
    # A message to her not delivered by then is given up (recorded `expired`): it would tell her
    # what was true that long ago. Retried with backoff until then.
    notify_give_up_s: float = Field(default=3600.0, gt=0)
    # The web apps: an optional map tile server (e.g. https://tiles.example/{z}/{x}/{y}.png; none by
    # default: the apps draw the municipality outlines offline) and the first language (ko or en).
    tile_url: str | None = None
    # Whose street map it is, credited under the map in the apps and in printed reports (e.g.
    # "© OpenStreetMap contributors"). Unset: a PMTiles archive's own attribution, else the tile
    # server's host name. The report's map shows the streets of `pmtiles` or `tile_url` too.
    tile_attribution: str | None = Field(default=None, max_length=200)
    language: str = Field(default="ko", pattern="^(ko|en)$")
    # A street map served by Vigil itself (an offline control room loads a country extract): a
    # PMTiles archive, vector (Protomaps basemap layers) or raster (PNG/JPEG/WebP), served at
    # /tiles/map.pmtiles to HTTP Range requests (api/tiles.py). Takes the place of `tile_url`.
    pmtiles: Path | None = None
    # The largest byte range one tile request may ask for (a tile, or a directory of the archive).
    pmtiles_max_range_bytes: int = Field(default=4_194_304, ge=65_536, le=67_108_864)
    # Street addresses: a Nominatim-compatible geocoder (e.g. a self-hosted Nominatim,
    # https://geocoder.example/), asked by /v1/geocode with this timeout. Unset: no address search
    # and no network; places are named from the municipality outlines offline.
    geocoder_url: str | None = None
    geocoder_timeout_s: float = Field(default=3.0, gt=0, le=30)
    # --- retention ---
    # Position history and device events older than this are purged, except evidence: what lies
    # around an alert (30 min either side) and what a legal hold keeps (docs/retention.md).
    retention_days: int = Field(default=180, ge=1)
    # How often the server runs the purge (0: never; then run `vigil purge` from cron), and the rows
    # deleted per writer transaction, so reports never wait long behind it.
    retention_purge_every_s: float = Field(default=3600.0, ge=0)
    retention_chunk: int = Field(default=5000, ge=1, le=100_000)
    # --- reminders before an order ends (store/reminders.py, docs/workflow.md) ---
    # Days before an order's end at which its probation officer and the case's police are reminded
    # (each once per end; an extension starts again), and how often the server looks (0: never).
    order_reminder_days: Annotated[tuple[int, ...], NoDecode] = (14, 3)  # e.g. VIGIL_ORDER_REMINDER_DAYS=14,3
    order_reminder_every_s: float = Field(default=600.0, ge=0)
    # --- the audit trail (store/audit.py, store/audit_key.py, anchoring.py) ---
    # The key of the chain's HMAC. It must live where the database's users cannot read it: inline
    # here, or in a file. With neither (development), the server makes a key file on first start,
    # beside a SQLite database file, else under var/ (`audit_key.default_key_file`).
    audit_key: SecretStr | None = None
    audit_key_file: Path | None = None
    # Where the chain's head is written down, outside the database (JSON lines, append-only);
    # default: beside the key file (`<key file without .key>.anchors.jsonl`). Every this many
    # seconds when the trail has grown (0: only at start-up and clean shutdown).
    audit_anchor_file: Path | None = None
    audit_anchor_every_s: float = Field(default=60.0, ge=0)
    # Optionally, each anchor is also POSTed to a witness outside the operator's control, signed
    # (Standard Webhooks) with its own whsec_ secret; failures are retried at the next anchor.
    audit_witness_url: str | None = None
    audit_witness_secret: str | None = None  # whsec_...
    audit_witness_timeout_s: float = Field(default=5.0, gt=0)

    # --- hardening (api/hardening.py; docs/deployment.md) ---------------------------------------------
    # "production" refuses to start with unsafe settings: see `production_problems`.
    environment: Literal["development", "production"] = "development"
    # Browser origins allowed to call the API from another origin (comma-separated, or a JSON list).
    # Empty, the default: none; the shipped web apps are served by Vigil itself (same origin).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Token buckets per credential: requests per second and burst; a rate of 0 means no limit.
    # A device token bound to one device (a monitor, a phone app).
    rate_device_per_s: float = Field(default=10.0, ge=0)
    rate_device_burst: int = Field(default=200, ge=1)
    # A gateway token (not bound to a device: posts for every device behind it; the simulator and
    # benchmarks send thousands of fixes per second over one).
    rate_gateway_per_s: float = Field(default=5000.0, ge=0)
    rate_gateway_burst: int = Field(default=50_000, ge=1)
    # A person's token (operators, officers, victims' apps), and incident links held by responders.
    rate_user_per_s: float = Field(default=100.0, ge=0)
    rate_user_burst: int = Field(default=2000, ge=1)
    # No token, or one that is not known: per client address (static files of the web apps too).
    rate_anonymous_per_s: float = Field(default=50.0, ge=0)
    rate_anonymous_burst: int = Field(default=500, ge=1)
    # A victim app's own position reports, per account (besides its token's bucket): the app sends
    # one every 10 s; each report is a probe of what she is then shown, so they are few.
    rate_my_position_per_s: float = Field(default=0.2, ge=0)
    rate_my_position_burst: int = Field(default=3, ge=1)
    # A victim's evidence packs (GET /v1/me/evidence), per account: each gathers and draws a whole
    # period; a few in a row, then one a minute.
    rate_my_evidence_per_s: float = Field(default=1 / 60, ge=0)
    rate_my_evidence_burst: int = Field(default=5, ge=1)
    # Buckets kept at most (idle ones are dropped first); bounds the limiter's memory.
    rate_max_buckets: int = Field(default=100_000, ge=100)
    # GET /metrics (Prometheus text format) is served to this bearer token (the scraper's, sent as
    # `Authorization: Bearer …`), or to an admin's own token. Unset: admins only.
    metrics_token: SecretStr | None = None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip().rstrip("/") for part in text.split(",") if part.strip()]
        return value

    @field_validator("order_reminder_days", mode="before")
    @classmethod
    def _split_days(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().strip("[]")
            return tuple(int(part) for part in text.split(",") if part.strip())
        return value

    @field_validator("order_reminder_days")
    @classmethod
    def _sensible_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 1 <= d <= 365 for d in value):
            raise ValueError("each reminder lead time is a whole number of days from 1 to 365")
        return tuple(sorted(set(value), reverse=True))

    @field_validator("pmtiles")
    @classmethod
    def _readable_archive(cls, value: Path | None) -> Path | None:
        # Told at start-up, not by an empty map on the night shift.
        if value is not None:
            from vigil.pmtiles import open_archive

            open_archive(value)  # NotPmtiles (a ValueError) says what is wrong with it
        return value

    @model_validator(mode="after")
    def _one_audit_key(self) -> Self:
        # Two keys named at once: which one the chain is written with would be a guess.
        if self.audit_key is not None and self.audit_key_file is not None:
            raise ValueError("set VIGIL_AUDIT_KEY or VIGIL_AUDIT_KEY_FILE, not both")
        if self.audit_key is not None and not self.audit_key.get_secret_value().strip():
            raise ValueError("VIGIL_AUDIT_KEY is empty")
        if self.metrics_token is not None and not self.metrics_token.get_secret_value().strip():
            raise ValueError("VIGIL_METRICS_TOKEN is empty (unset it to leave /metrics to admins)")
        if self.audit_witness_url is not None and not _whsec(self.audit_witness_secret):
            raise ValueError(
                "VIGIL_AUDIT_WITNESS_URL needs VIGIL_AUDIT_WITNESS_SECRET: whsec_ followed by base64 "
                "(the witness checks each anchor's signature with it)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.environment == "production":
            problems = self.production_problems()
            if problems:
                raise ValueError(
                    "refusing to start in production mode (VIGIL_ENVIRONMENT=production): "
                    + "; ".join(problems)
                )
        return self

    def production_problems(self) -> list[str]:
        """What makes these settings unfit for production, one sentence each (empty: none).

        Vigil has no built-in default secret to leave in place: incident links and tokens are
        random and issued per install. The secrets that come from
        the environment are the dispatch target's and the audit witness's webhook secrets and the
        audit key; "default" there means an example value copied from documentation, or one too
        short to be a real key. The audit key must be given (not made implicitly on first start)."""
        problems: list[str] = []
        if not _is_https(self.public_url):
            problems.append("VIGIL_PUBLIC_URL must be the https:// address people reach (TLS is required)")
        if self.database_url == _DEFAULT_DATABASE_URL:
            problems.append(
                "VIGIL_DATABASE_URL is the development default (a SQLite file relative to the working "
                "directory); name the production database"
            )
        if self.dispatch_secret is not None and not _strong_secret(self.dispatch_secret):
            problems.append(
                "VIGIL_DISPATCH_SECRET is an example value or too short: use whsec_ followed by at least "
                f"{_MIN_SECRET_BYTES} random bytes in base64"
            )
        for name, url in (
            ("VIGIL_DISPATCH_URL", self.dispatch_url),
            ("VIGIL_FALLBACK_URL", self.fallback_url),
            ("VIGIL_SMS_URL", self.sms_url),
        ):
            if url is not None and not (_is_https(url) or _is_loopback(url)):
                problems.append(f"{name} must use https:// (pushes carry personal data)")
        problems += self._audit_problems()
        if self.sms_url is not None and (
            self.sms_token is None or not self.sms_token.get_secret_value().strip()
        ):
            problems.append("VIGIL_SMS_URL needs VIGIL_SMS_TOKEN (the gateway must know the texts are ours)")
        if self.push_allow_loopback_http:
            problems.append("VIGIL_PUSH_ALLOW_LOOPBACK_HTTP is for tests: push endpoints must be https://")
        if self.metrics_token is not None and not _strong_key(self.metrics_token.get_secret_value()):
            problems.append(
                f"VIGIL_METRICS_TOKEN is too short or too plain: at least {_MIN_AUDIT_KEY_CHARS} random "
                "characters (e.g. `openssl rand -hex 32`)"
            )
        if self.tile_url is not None and not _is_https(self.tile_url):
            problems.append("VIGIL_TILE_URL must use https:// (browsers block plain tiles on an https page)")
        if self.geocoder_url is not None and not (
            _is_https(self.geocoder_url) or _is_loopback(self.geocoder_url)
        ):
            problems.append("VIGIL_GEOCODER_URL must use https:// (a zone's address is a victim's home)")
        if "*" in self.cors_origins:
            problems.append("VIGIL_CORS_ORIGINS must list origins, not '*'")
        insecure = [o for o in self.cors_origins if o != "*" and not o.startswith("https://")]
        if insecure:
            problems.append(f"VIGIL_CORS_ORIGINS must be https:// origins (not {', '.join(insecure)})")
        if self.log_level.upper() in {"DEBUG", "NOTSET", "TRACE"}:
            problems.append(
                "VIGIL_LOG_LEVEL must not be DEBUG in production (debug logs carry personal data)"
            )
        if (
            self.rate_user_per_s == 0
            or self.rate_anonymous_per_s == 0
            or self.rate_device_per_s == 0
            or self.rate_my_position_per_s == 0
        ):
            problems.append(
                "rate limits for users, devices, anonymous callers and the victim app's position "
                "reports must not be switched off (0)"
            )
        return problems

    def _audit_problems(self) -> list[str]:
        """The audit key must be one the operator made and keeps (a key file created implicitly
        beside the database is readable by whoever can read the database's directory), strong, and
        the anchors must have a named home."""
        problems: list[str] = []
        if self.audit_key is None and self.audit_key_file is None:
            problems.append(
                "VIGIL_AUDIT_KEY_FILE (or VIGIL_AUDIT_KEY) must be set: the audit chain's key, kept "
                "where the database's users cannot read it (the implicit key file is for development)"
            )
        if self.audit_key is not None and not _strong_key(self.audit_key.get_secret_value()):
            problems.append(
                f"VIGIL_AUDIT_KEY is too short or too plain: at least {_MIN_AUDIT_KEY_CHARS} random "
                "characters (e.g. `openssl rand -hex 32`)"
            )
        if self.audit_key is not None and self.audit_anchor_file is None:
            problems.append(
                "VIGIL_AUDIT_ANCHOR_FILE must be set when the audit key is given inline (there is no "
                "key file to keep the anchors beside)"
            )
        if self.audit_witness_url is not None:
            if not (_is_https(self.audit_witness_url) or _is_loopback(self.audit_witness_url)):
                problems.append("VIGIL_AUDIT_WITNESS_URL must use https://")
            if self.audit_witness_secret is None or not _strong_secret(self.audit_witness_secret):
                problems.append(
                    "VIGIL_AUDIT_WITNESS_SECRET is an example value or too short: use whsec_ followed "
                    f"by at least {_MIN_SECRET_BYTES} random bytes in base64"
                )
        return problems

    # --- the parts' own settings, handed out here so nothing copies them field by field ---------------

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """These values and the documented defaults, whatever the environment says: a replay or a
        benchmark must give the same answer on every machine."""
        return _Given(**values)

    @property
    def cluster(self) -> bool:
        """Cluster mode: a NATS server to log on and a PostgreSQL system of record. A NATS URL with
        a SQLite database is refused where it is used (cli.py): one file cannot be shared."""
        return self.nats_url is not None and self.database_url.startswith("postgresql")

    def tuning(self) -> Tuning:
        """The rules' knobs that are settings; the rest keep the rules' own defaults."""
        return Tuning(
            stale_after_s=self.stale_after_s,
            default_silence_s=self.default_silence_s,
            clock_future_s=self.clock_future_limit_s,
            clock_behind_s=self.clock_behind_limit_s,
            late_horizon_s=self.late_horizon_s,
            tier_hold_s=self.tier_hold_s,
            move_max_mps=self.move_max_mps,
        )

    def outbox(self) -> OutboxSettings:
        """What every push says about its sender, in which local time, and how long its link lives."""
        from vigil.dispatch.outbox import OutboxSettings

        return OutboxSettings(
            sender=self.dispatch_sender,
            source=self.dispatch_source,
            timezone=self.timezone,
            stale_after_s=self.stale_after_s,
            link_lifetime_s=self.incident_link_s,
        )

    def delivery(self) -> DeliverySettings:
        """How pushes are sent, retried, alarmed about and awaited."""
        from vigil.dispatch.deliverer import DeliverySettings

        return DeliverySettings(
            timeout_s=self.dispatch_timeout_s,
            backoff_s=self.dispatch_backoff_s,
            backoff_max_s=self.dispatch_backoff_max_s,
            alarm_after_s=self.dispatch_alarm_after_s,
            ack_timeout_s=self.dispatch_ack_timeout_s,
        )

    def notify(self) -> NotifySettings:
        """What is staged for her: texts only when an SMS gateway is configured."""
        from vigil.notify.staging import NotifySettings

        return NotifySettings(sms=bool(self.sms_url), sms_step_m=self.sms_step_m, language=self.language)

    def sender(self) -> SenderSettings:
        """How her pushes and texts are sent and retried."""
        from vigil.notify.sender import SenderSettings

        return SenderSettings(
            timeout_s=self.dispatch_timeout_s,
            backoff_s=self.dispatch_backoff_s,
            backoff_max_s=self.dispatch_backoff_max_s,
            give_up_s=self.notify_give_up_s,
            push_ttl_s=self.push_ttl_s,
            vapid_subject=self.vapid_subject,
            sms_url=self.sms_url,
            sms_token=None if self.sms_token is None else self.sms_token.get_secret_value(),
            allow_loopback=self.push_allow_loopback_http,
        )

    def link_base(self, listening: str | None = None) -> str:
        """Where people reach this server: the public URL, else where it listens (when known), else
        the configured host and port."""
        return (self.public_url or listening or f"http://{self.host}:{self.port}").rstrip("/")


class _Given(Settings):
    """Settings read from the values given alone (validated as ever), not from VIGIL_* or files."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


_DEFAULT_DATABASE_URL = "sqlite:///var/vigil.db"
_MIN_SECRET_BYTES = 24
_MIN_AUDIT_KEY_CHARS = 32
# Values seen in documentation (ours and the Standard Webhooks specification's) and placeholders.
_EXAMPLE_SECRETS = frozenset(
    {
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "whsec_…",
        "whsec_...",
        "whsec_<base64 of at least 16 random bytes>",
        "changeme",
        "secret",
    }
)


def _is_https(url: str | None) -> bool:
    return url is not None and urlsplit(url.strip()).scheme.lower() == "https" and bool(urlsplit(url).netloc)


def _is_loopback(url: str) -> bool:
    host = urlsplit(url.strip()).hostname or ""
    return host in {"localhost", "127.0.0.1", "::1"}


def _strong_key(key: str) -> bool:
    text = key.strip()
    return len(text) >= _MIN_AUDIT_KEY_CHARS and len(set(text)) > 8 and text not in _EXAMPLE_SECRETS


def _whsec(secret: str | None) -> bool:
    if secret is None or not secret.startswith("whsec_"):
        return False
    try:
        return len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) > 0
    except (binascii.Error, ValueError):
        return False


def _strong_secret(secret: str) -> bool:
    if secret in _EXAMPLE_SECRETS or not secret.startswith("whsec_"):
        return False
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(key) >= _MIN_SECRET_BYTES and len(set(key)) > 4
