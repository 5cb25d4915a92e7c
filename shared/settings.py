"""All configuration, read from ANTQ_* environment variables in this one place (pydantic-settings)."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared import places, service_registry
from shared.areas import AREA_CODE_PATTERN

# Derived from the one registry of services (shared/service_registry.py).
# The services on the bus (a stream, a DLQ prefix, a NATS user each).
SERVICES: tuple[str, ...] = service_registry.names(on_bus=True)
# Every process `antq up` starts, in registry order: the services on the bus, then the staff console (HTTP only).
PROCESSES: tuple[str, ...] = service_registry.names()
PORT_OFFSETS: dict[str, int] = {s.name: s.port_offset for s in service_registry.REGISTRY}
# The services whose HTTP API the console calls (`console_<service>_url`).
CONSOLE_APIS: tuple[str, ...] = service_registry.names(console_calls=True)
# Settings fields declared per service from the registry: its database, and where the console reaches its API.
_DATABASE_FIELDS = tuple(f"{name}_database_url" for name in PROCESSES)
_CONSOLE_API_FIELDS = tuple(f"console_{name}_url" for name in CONSOLE_APIS)


class Settings(BaseSettings):
    """One deployment's settings. Every field maps to `ANTQ_<FIELD>`; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="ANTQ_", extra="ignore", case_sensitive=False)

    # Embedded runner and addresses
    data_dir: Path = Path(".antq")
    nats_url: str | None = None
    nats_port: int = 4222
    port_base: int = 8000
    http_port: int | None = None
    http_host: str = "127.0.0.1"
    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated IPs or CIDRs).
    # Empty: forwarded headers are ignored, so a client cannot pick the address the rate limits key on.
    trusted_proxies: str = ""

    # Databases: one per service (any SQLAlchemy async URL), `<service>_database_url` for each service of the
    # registry (declared at the end of the fields); default SQLite under the data dir
    migrate_on_start: bool = True
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = "FULL"

    # NATS credentials and TLS
    nats_user: str | None = None
    nats_password: str | None = None
    nats_token: str | None = None
    nats_creds: Path | None = None
    nats_tls_ca: Path | None = None
    nats_tls_cert: Path | None = None
    nats_tls_key: Path | None = None
    nats_connect_timeout: float = 2.0
    nats_sync_always: bool = True
    # A namespace prefixes NATS subjects and stream names so that independent worlds share one server (tests).
    namespace: str = Field(default="", pattern=r"^[A-Za-z0-9]*$")
    stream_replicas: int = Field(default=1, ge=1, le=5)
    stream_duplicate_window_seconds: float = Field(default=300.0, ge=120.0)
    stream_max_age_days: float = Field(default=0, ge=0, description="0 keeps events forever")
    # Replies to agencies (the OUTBOUND stream) are kept this long for the agency to read them.
    outbound_max_age_days: float = Field(default=30, gt=0)

    # Outbox relay and consumers
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_poll_interval: float = Field(default=0.5, gt=0)
    publish_timeout: float = Field(default=5.0, gt=0)
    # Under a backlog a consumer takes this many messages per transaction; larger batches amortise the commit
    # (one fsync) and the per-batch reads of batch handlers (docs/benchmarks.md). Light load gives small batches.
    consumer_batch_size: int = Field(default=1000, ge=1, le=5_000)
    consumer_fetch_timeout: float = Field(default=0.05, gt=0)
    consumer_max_deliver: int = Field(default=5, ge=1)
    consumer_ack_wait: float = Field(default=30.0, gt=0)
    consumer_retry_delay: float = Field(default=1.0, ge=0)

    # Move objects created at start-up out of the garbage collector's reach, then collect the youngest generation
    # every 20,000 allocations instead of 700 (one process per service; shared/service.py).
    gc_freeze_on_start: bool = True

    # Authentication
    auth_key_file: Path | None = None
    auth_issuer: str = "antq"
    auth_token_ttl_seconds: int = Field(default=12 * 3600, ge=60)

    # Logging
    log_level: str = "INFO"
    log_json: bool = True

    # Service-specific
    tips_identity_keys: str | None = None  # comma-separated base64 AES keys, newest first
    # EC P-256 private keys (PEM) that open the identities agencies seal for forwarded tips; default
    # <data dir>/keys/tips_inbound (created on first use). A `current` file names the key published first.
    tips_inbound_key_dir: Path | None = None
    # The agencies' public keys (one JWK set per agency, `<agency>.jwks.json`) that receipts of forwarded tips are
    # encrypted to; default <data dir>/keys/agencies. `antq tips agency-key` registers one.
    tips_agency_key_dir: Path | None = None
    # comma-separated base64 HMAC keys for receipts, newest first; unset: <data dir>/keys/tips_receipt.keys
    tips_receipt_keys: str | None = None
    tips_attachment_dir: Path | None = None
    tips_submit_rate_per_minute: float = Field(default=10, gt=0)  # public intake, per client
    tips_follow_up_rate_per_minute: float = Field(default=20, gt=0)  # public follow-up, per client
    # Officers and admins entering tips for reporters (phone, desk): per person, instead of the per-address limit.
    tips_staff_submit_rate_per_minute: float = Field(default=120, gt=0)
    tips_scheduler_interval: float = Field(default=5.0, gt=0)  # seconds between deadline scheduler passes
    # The area whose officers work the intake desk (tips with no area); unset: every province-level officer.
    # Read by tips (the officer queue) and notify (who hears of such a tip). See shared.areas.serves_intake_desk.
    tips_intake_desk_area: str | None = Field(default=None, pattern=AREA_CODE_PATTERN)
    awards_signing_key_dir: Path | None = None
    awards_public_base_url: str | None = None
    awards_issuer_name: str = "antq"  # the issuer's name printed in certificates (e.g. the provincial police)
    awards_claim_rate_per_minute: int = Field(default=10, ge=1)  # POST /rewards/claim per client
    awards_deadline_check_interval: float = Field(default=60.0, gt=0)  # seconds between overdue-review checks
    notify_smtp_host: str | None = None
    notify_smtp_port: int = 25
    notify_smtp_user: str | None = None
    notify_smtp_password: str | None = None
    notify_smtp_starttls: bool = False
    notify_smtp_from: str = "antq@localhost"
    notify_sms_gateway_url: str | None = None
    notify_sms_backup_gateway_url: str | None = None
    notify_sms_gateway_token: str | None = None
    notify_sms_failover_threshold: int = Field(default=3, ge=1)
    notify_sms_failover_cooldown_seconds: float = Field(default=300.0, ge=0)
    notify_smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    notify_http_timeout_seconds: float = Field(default=10.0, gt=0)
    notify_worker_poll_seconds: float = Field(default=1.0, gt=0)
    notify_channel_concurrency: int = Field(default=8, ge=1, le=256)
    notify_delivery_lease_seconds: float = Field(default=120.0, gt=0)
    # Local areas (an industrial park, a border zone) under provinces of the national list: YAML or CSV with
    # code, name, kind (shared/places.py). Checked when the settings load: a bad file stops start-up.
    local_areas_file: Path | None = None
    notify_rules_file: Path | None = None  # a province's routing rules (YAML); default: the shipped rules.yaml
    notify_retry_file: Path | None = None  # per-channel retry policy (YAML); default: the shipped retry.yaml
    # Networks (comma-separated CIDRs) webhooks may reach besides public addresses; empty: public addresses only
    notify_webhook_allowed_networks: str = ""
    notify_secret_keys: str | None = None  # comma-separated base64 AES keys for webhook secrets, newest first
    units_metrics_refresh_seconds: float = Field(default=15.0, gt=0)  # how often the units gauges are recomputed
    units_batch_max_items: int = Field(default=5_000, ge=1)  # items in one batch request
    units_import_chunk_rows: int = Field(default=1_000, ge=1)  # import rows committed per transaction
    # GET /stats for the nation and a province: served from a shared snapshot younger than this (seconds), kept
    # warm by a background job; 0 computes every request live (and stops the job). A commune's is always live.
    units_stats_max_age: float = Field(default=60.0, ge=0, le=86_400)
    # Agencies' trust levels for incident reports (YAML); default: the shipped rules/agencies.yaml. Read when the
    # units service starts: a bad file stops it.
    units_agencies_file: Path | None = None
    # Evidence documents of a dossier: where the disk store keeps them (default <data dir>/evidence), the
    # largest file accepted (the accepted types are data: services/units/rules/evidence.yaml).
    units_evidence_dir: Path | None = None
    units_evidence_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024)

    # Uploaded files (tip attachments, dossier evidence): `disk` under the data dir, or `s3` for an
    # S3-compatible object store (shared/blobs.py)
    blob_store: Literal["disk", "s3"] = "disk"
    s3_endpoint_url: str | None = None  # e.g. http://minio:9000; unset: AWS's own endpoint for the region
    s3_bucket: str | None = None
    s3_prefix: str = ""  # prepended to every object key (then "<service>/<sha[:2]>/<sha256>")
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None

    # Staff console: the services' HTTP APIs, `console_<service>_url` for each service it calls (declared at the end
    # of the fields; default the embedded port http://127.0.0.1:P+<offset>), sessions and sign-in rules
    console_public_url: str | None = None  # e.g. https://console.example.gov.vn: https makes cookies Secure
    console_session_idle_minutes: float = Field(default=30, gt=0)  # a session unused this long ends
    console_session_absolute_hours: float = Field(default=12, gt=0)  # a session ends this long after sign-in
    console_lockout_failures: int = Field(default=5, ge=1)  # failed sign-ins in a row before the account locks
    console_lockout_minutes: float = Field(default=15, gt=0)  # how long a locked account stays locked
    console_token_ttl_seconds: int = Field(default=300, ge=60)  # lifetime of the token minted per page
    console_inbox_poll_seconds: float = Field(default=2.0, gt=0)  # how often an open page's inbox is re-read
    console_http_timeout: float = Field(default=10.0, gt=0)  # seconds per call to a service's API
    console_argon2_profile: Literal["standard", "fast"] = "standard"  # password hashing cost (fast: tests only)
    # Sign-in with the OIDC provider of ANTQ_OIDC_ISSUER (authorization code + PKCE); unset client id = none
    console_oidc_client_id: str | None = None  # the console's client at the provider
    console_oidc_client_secret: str | None = None  # a confidential client's secret; unset for a public client
    console_password_sign_in: bool = True  # false (with OIDC on): only the provider's sign-in is offered

    # OIDC access tokens from an external identity provider (production); unset = local tokens only
    oidc_issuer: str | None = None  # the provider's `iss`, e.g. https://sso.example.gov.vn/realms/antq
    oidc_audience: str | None = None  # the `aud` the provider puts in tokens meant for antq
    oidc_jwks_url: str | None = None  # default: jwks_uri from the issuer's openid-configuration
    oidc_role_claim: str = "role"  # dotted path, e.g. realm_access.roles; a string or a list of strings
    oidc_area_claim: str = "area"
    oidc_unit_claim: str = "unit"
    oidc_level_claim: str = "level"  # a leader's level: commune | police_unit | province | ministry
    oidc_role_map: dict[str, str] = Field(default_factory=dict)  # JSON: provider value -> antq role
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "EdDSA"])
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    oidc_jwks_cache_seconds: float = Field(default=600.0, gt=0)
    oidc_jwks_min_refetch_seconds: float = Field(default=30.0, ge=0)
    oidc_http_timeout: float = Field(default=3.0, gt=0)
    oidc_officer_requires_area: bool = True  # refuse officer tokens without an area claim (no nationwide reach)

    # The fields of each service of the registry, declared like those above (so ANTQ_UNITS_DATABASE_URL and the
    # keyword `units_database_url=` work alike): a new service gets them from its registry entry alone.
    __annotations__.update(dict.fromkeys((*_DATABASE_FIELDS, *_CONSOLE_API_FIELDS), "str | None"))
    locals().update(dict.fromkeys((*_DATABASE_FIELDS, *_CONSOLE_API_FIELDS)))

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, v: str) -> str:
        entries = [e.strip() for e in v.split(",") if e.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"ANTQ_TRUSTED_PROXIES: {entry!r} is not an IP address or CIDR") from None
        return ",".join(entries)

    @field_validator("local_areas_file")
    @classmethod
    def _local_areas(cls, v: Path | None) -> Path | None:
        if v is None:
            return v
        try:
            text = v.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"ANTQ_LOCAL_AREAS_FILE {v}: cannot be read ({exc})") from None
        try:
            areas = places.parse_local_areas(text, "csv" if v.suffix.lower() == ".csv" else "yaml")
        except places.LocalAreasError as exc:
            raise ValueError(f"ANTQ_LOCAL_AREAS_FILE {v}: {exc}") from None
        places.use_local_areas(areas)  # every area check of this process knows them from now on
        return v

    @field_validator("nats_url", "tips_identity_keys", "notify_secret_keys", "console_public_url",
                     "console_oidc_client_id", "console_oidc_client_secret", *_DATABASE_FIELDS, *_CONSOLE_API_FIELDS,
                     mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return None if v == "" else v

    # --- derived values -------------------------------------------------------------------------------------
    def effective_nats_url(self) -> str:
        return self.nats_url or f"nats://127.0.0.1:{self.nats_port}"

    def database_url_for(self, service: str) -> str:
        explicit = getattr(self, f"{service}_database_url", None)
        if explicit:
            return str(explicit)
        return f"sqlite+aiosqlite:///{self.default_database_path(service).resolve()}"

    def default_database_path(self, service: str) -> Path:
        """A service's SQLite file when no URL is given: under db/, apart from keys/ (shared.datadir)."""
        return self.data_dir / "db" / f"{service}.db"

    def http_port_for(self, service: str) -> int:
        return self.http_port if self.http_port else self.port_base + PORT_OFFSETS[service]

    def console_link_base(self) -> str:
        """The console's address in links people follow (notices): its public URL, else the embedded port."""
        if self.console_public_url:
            return str(self.console_public_url).rstrip("/")
        return f"http://127.0.0.1:{self.port_base + PORT_OFFSETS['console']}"

    def service_url_for(self, service: str) -> str:
        """Where the console reaches a service's HTTP API (the embedded port unless configured)."""
        explicit = getattr(self, f"console_{service}_url", None)
        if explicit:
            return str(explicit).rstrip("/")
        return f"http://127.0.0.1:{self.port_base + PORT_OFFSETS[service]}"

    def trusted_proxy_list(self) -> list[str]:
        return [e for e in self.trusted_proxies.split(",") if e]

    def auth_key_path(self) -> Path:
        return self.auth_key_file or self.data_dir / "keys" / "auth_ed25519.pem"


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; keyword overrides win (the command line passes its flags here)."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]


def child_environment(settings: Settings, service: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a service process started by `antq up` runs with: the parent's settings made explicit."""
    env = dict(os.environ if base is None else base)
    env.update({
        "ANTQ_DATA_DIR": str(settings.data_dir.resolve()),
        "ANTQ_NATS_URL": settings.effective_nats_url(),
        "ANTQ_HTTP_PORT": str(settings.http_port_for(service)),
        "ANTQ_PORT_BASE": str(settings.port_base),  # the console finds the services by it, notify the console
        f"ANTQ_{service.upper()}_DATABASE_URL": settings.database_url_for(service),
        "ANTQ_AUTH_KEY_FILE": str(settings.auth_key_path().resolve()),
    })
    return env


_TOKEN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def valid_agency_name(name: str) -> bool:
    """Agency account names are one NATS subject token: lower-case letters, digits and hyphens."""
    return bool(_TOKEN.match(name)) and len(name) <= 63
