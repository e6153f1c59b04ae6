"""Settings: the only module that reads the environment (and an optional ``.env`` file).

Two families of names:

* names people already use keep their names (``ENABLE_MCP``, ``MCP_FORCE_MOCKS``,
  ``SHOPIFY_ACCESS_TOKEN``, ``GA4_PROPERTY_ID``, …);
* storelink's own knobs are ``STORELINK_<NAME>`` and, per connector,
  ``STORELINK_<CONNECTOR>_<KNOB>`` (``STORELINK_SHOPIFY_TIMEOUT=5``).

Every default is written once, here; ``docs/configuration.md`` is generated from this module
(``storelink config --markdown``) and a test keeps the two in step.

Nothing depends on the working directory unless asked: a desktop client starts ``storelink mcp``
wherever it likes. The data directory defaults to the user's (:func:`user_data_dir`), and
:func:`env_files` names the ``.env`` files read (the user's, then the working directory's, or only
``STORELINK_ENV_FILE``), so a command can say which it read.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CONNECTOR_NAMES",
    "BingKnobs",
    "ConnectorKnobs",
    "Ga4Knobs",
    "GscKnobs",
    "LlmKnobs",
    "SettingRow",
    "Settings",
    "ShopifyKnobs",
    "SiteKnobs",
    "ZohoKnobs",
    "describe_settings",
    "env_files",
    "env_name",
    "environment_value",
    "load_settings",
    "secret_values_of",
    "user_config_dir",
    "user_data_dir",
]


class ConnectorKnobs(BaseModel):
    """Resilience knobs of one connector: ``STORELINK_<CONNECTOR>_<KNOB>``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="Feature flag; false puts the connector in `disabled` mode.")
    base_url: str | None = Field(
        None, description="Send requests to this host instead of the real API (a fake, a proxy)."
    )
    timeout: float = Field(10.0, gt=0, description="Per-attempt read/write timeout, seconds.")
    connect_timeout: float = Field(3.0, gt=0, description="Per-attempt connect timeout, seconds.")
    deadline: float = Field(30.0, gt=0, description="Total time for one call, all retries and waits included.")
    max_retries: int = Field(3, ge=0, le=10, description="Retries after the first attempt (reads only).")
    backoff_base: float = Field(0.2, gt=0, description="Full-jitter backoff base, seconds.")
    backoff_cap: float = Field(10.0, gt=0, description="Full-jitter backoff cap, seconds.")
    retry_budget_ratio: float = Field(
        0.2, ge=0, le=1, description="Retries earned per first attempt (0.2 = retries ≤ 20 % of calls)."
    )
    retry_budget_burst: float = Field(10.0, ge=0, description="Retry tokens held in reserve (and at start).")
    rate_limit: float = Field(10.0, gt=0, description="Local token bucket: requests (or cost units) per second.")
    rate_burst: float = Field(10.0, gt=0, description="Local token bucket capacity.")
    max_in_flight: int = Field(16, ge=1, description="Bulkhead: concurrent calls to this upstream.")
    pool_size: int = Field(20, ge=1, description="HTTP connection pool size.")
    breaker_failure_rate: float = Field(
        50.0, gt=0, le=100, description="Open when this % of calls in the window failed."
    )
    breaker_slow_call_rate: float = Field(
        100.0, gt=0, le=100, description="Open when this % of calls in the window were slow."
    )
    breaker_slow_call_s: float = Field(10.0, gt=0, description="A call slower than this counts as slow.")
    breaker_window: int = Field(50, ge=1, description="Sliding window: the last N calls.")
    breaker_min_calls: int = Field(10, ge=1, description="No verdict before this many calls are in the window.")
    breaker_open_s: float = Field(30.0, gt=0, description="How long the breaker stays open before probing.")
    breaker_half_open_calls: int = Field(3, ge=1, description="Probe calls allowed while half-open.")
    cache_ttl: float = Field(300.0, ge=0, description="Default TTL of cached reads, seconds (0 disables).")


class ShopifyKnobs(ConnectorKnobs):
    api_version: str = Field("2026-10", description="Pinned Admin API version (YYYY-MM).")
    expose_pii: bool = Field(False, description="Show customers' names, e-mails and phones unmasked.")
    rate_limit: float = Field(100.0, gt=0, description="Restore rate assumed before Shopify reports its own.")
    rate_burst: float = Field(2000.0, gt=0, description="Bucket size assumed before Shopify reports its own.")


class Ga4Knobs(ConnectorKnobs):
    max_in_flight: int = Field(10, ge=1, description="GA4 allows 10 concurrent requests per property.")
    rate_limit: float = Field(5.0, gt=0, description="Requests per second before quotas are reported.")
    retry_budget_burst: float = Field(5.0, ge=0, description="Half of GA4's 10 server errors per hour.")


class GscKnobs(ConnectorKnobs):
    rate_limit: float = Field(20.0, gt=0, description="Per-site queries per second (1,200 per minute).")
    rate_burst: float = Field(20.0, gt=0, description="Local token bucket capacity.")


class BingKnobs(ConnectorKnobs):
    rate_limit: float = Field(5.0, gt=0, description="Requests per second.")


class ZohoKnobs(ConnectorKnobs):
    rate_limit: float = Field(1 / 3, gt=0, description="Requests per second (Zoho allows 30 a minute).")
    rate_burst: float = Field(10.0, gt=0, description="Local token bucket capacity.")


class SiteKnobs(ConnectorKnobs):
    """The store's own website, fetched for site knowledge (RAG): polite, and cached a day."""

    rate_limit: float = Field(10.0, gt=0, description="Pages per second.")
    max_in_flight: int = Field(4, ge=1, description="Pages fetched at once.")
    pool_size: int = Field(4, ge=1, description="HTTP connection pool size.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries after the first attempt.")
    cache_ttl: float = Field(86_400.0, ge=0, description="Pages are revalidated (ETag/Last-Modified) after this.")
    warm_up: bool = Field(
        True,
        description="`serve` and `mcp` open site knowledge at start (in mock mode: ingest the demo site) in the "
        "background, so the first search does not wait for it.",
    )


class LlmKnobs(ConnectorKnobs):
    """The OpenAI-compatible endpoint that writes answers (``STORELINK_LLM_BASE_URL``): a completion
    takes seconds, so it waits longer and retries less; completions are never cached."""

    enabled: bool = Field(
        True, description="False answers extractively even when `STORELINK_LLM_BASE_URL` names an endpoint."
    )
    timeout: float = Field(60.0, gt=0, description="Per-attempt read/write timeout, seconds.")
    deadline: float = Field(90.0, gt=0, description="Total time for one completion, all retries and waits included.")
    max_retries: int = Field(2, ge=0, le=10, description="Retries after the first attempt.")
    rate_limit: float = Field(5.0, gt=0, description="Completions per second.")
    rate_burst: float = Field(5.0, gt=0, description="Local token bucket capacity.")
    cache_ttl: float = Field(0.0, ge=0, description="Completions are never cached: each answers its own passages.")


CONNECTOR_NAMES = ("shopify", "ga4", "gsc", "bing", "zoho")


def _secret(alias: str, description: str) -> Any:
    return Field(None, validation_alias=alias, description=description)


class Settings(BaseSettings):
    """Effective configuration. Frozen: read once at start, passed everywhere as an argument."""

    model_config = SettingsConfigDict(
        env_prefix="STORELINK_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    # --- storelink's own ------------------------------------------------------------------
    data_dir: Path = Field(
        None,  # filled in by _data_dir_default: the user's directory, not the working directory's
        validate_default=True,
        description="Embedded store: SQLite database, caches and vectors. `~` is expanded.",
    )
    env_file: Path | None = Field(
        None,
        description="Read settings from this `.env` file only (instead of the user's config-dir `.env`, then "
        "`./.env`); the environment still wins.",
    )
    host: str = Field("127.0.0.1", description="Address `storelink serve` binds.")
    port: int = Field(8765, ge=1, le=65535, description="Port `storelink serve` binds.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    fake_faults: str | None = Field(
        None,
        description="FaultPlan for the fakes, e.g. `shopify:429=0.1,500=0.05;ga4:stall=0.02`.",
    )
    demo_today: dt.date | None = Field(
        None,
        description="Pins mock mode's clock (connectors and fakes alike) to noon on this day (YYYY-MM-DD) in the "
        "demo shop's time zone; the real date there when unset.",
    )
    allow_writes: str = Field(
        "",
        description="Write operations to allow: comma-separated `connector.operation` names, or `*`.",
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis for state shared across replicas (limits, cache); it may carry a password."
    )
    replicas: int = Field(1, ge=1, description="Replicas sharing the upstream quotas (each takes 1/N without Redis).")
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL for what replicas must keep (the write audit log and idempotency records), "
        "`postgresql://user:password@host:5432/db`; the embedded SQLite store when unset.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key(s) that seal OAuth tokens kept in PostgreSQL, comma-separated, newest first: new "
        "writes use the first, the others still open what they sealed (rotation). `storelink db new-key` "
        "makes one. Without it no token is written to the database.",
    )
    database_schema: str = Field(
        "storelink",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL schema storelink's tables live in (created by `storelink db migrate`).",
    )
    stores_file: Path | None = Field(
        None,
        description="TOML file listing the stores this deployment serves (docs/stores.md); the environment "
        "describes one store, `default`, when unset.",
    )
    demo_stores: int = Field(
        1,
        ge=1,
        le=1000,
        description="Mock mode without a stores file: this many demo stores (`demo-1`…), each with its own "
        "seeded catalogue, traffic and mail.",
    )
    redis_prefix: str = Field(
        "storelink:",
        min_length=1,
        pattern=r"^[^\s{}]+$",
        description="Prefix of every Redis key: give each store (each set of upstream credentials) its own.",
    )

    # --- MCP server and client ----------------------------------------------------------------
    mcp_tools: str = Field(
        "*", description="Tools to expose: comma-separated globs; a leading `-` excludes (`*,-zoho_*`)."
    )
    allowed_hosts: str = Field(
        "", description="Extra Host names the HTTP endpoints accept (DNS-rebinding protection), comma-separated."
    )
    mcp_oauth_issuer: str | None = Field(
        None, validation_alias="MCP_OAUTH_ISSUER", description="OAuth issuer whose JWTs the MCP endpoint accepts."
    )
    mcp_resource_url: str | None = Field(
        None, description="This server's public MCP URL (the token audience); default from host and port."
    )
    mcp_keys_file: Path | None = Field(
        None,
        description="TOML file of MCP keys (their SHA-256, never the keys) and the stores each may reach "
        "(docs/stores.md); `MCP_API_KEY` still reaches every store.",
    )
    mcp_client_id: str | None = Field(
        None, validation_alias="MCP_CLIENT_ID", description="OAuth client of the MCP client."
    )
    mcp_refresh_token: SecretStr | None = _secret("MCP_REFRESH_TOKEN", "Refresh token of the MCP client.")

    # --- dashboard ------------------------------------------------------------------------------
    dashboard_password: SecretStr | None = Field(None, description="Password for the pages when bound beyond loopback.")
    session_secret: SecretStr | None = Field(
        None, description="Key that signs session cookies (random per process when unset)."
    )
    trusted_proxy_header: str | None = Field(
        None, description="Header a trusted proxy sets with the signed-in user (e.g. `X-Forwarded-User`)."
    )
    trusted_proxies: str = Field(
        "",
        description="Proxies whose `X-Forwarded-For`/`-Proto` the pages believe: comma-separated IPs or CIDRs.",
    )
    sentry_dsn: SecretStr | None = _secret("SENTRY_DSN", "Send errors to Sentry (secrets scrubbed).")

    # --- site knowledge (RAG) -------------------------------------------------------------------
    site_url: str | None = Field(None, description="The store's website to discover and ingest.")
    chroma_url: str | None = Field(None, description="A Chroma server; embedded Chroma under the data dir when unset.")
    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint for answer synthesis.")
    llm_api_key: SecretStr | None = Field(None, description="API key for the LLM endpoint.")
    llm_model_small: str = Field("gpt-4o-mini", description="Model for short questions.")
    llm_model_large: str = Field("gpt-4o", description="Model for long or escalated questions.")

    # --- insights -------------------------------------------------------------------------------
    lead_time_days: int = Field(14, ge=1, description="Supplier lead time for stock-out risk, days.")

    # --- names people already use ---------------------------------------------------------
    enable_mcp: bool = Field(True, validation_alias="ENABLE_MCP", description="Serve MCP at /mcp.")
    mcp_force_mocks: bool = Field(
        False, validation_alias="MCP_FORCE_MOCKS", description="Every connector talks to its fake."
    )
    mcp_api_url: str | None = Field(None, validation_alias="MCP_API_URL", description="A storelink MCP endpoint.")
    mcp_api_key: SecretStr | None = _secret("MCP_API_KEY", "Bearer token the MCP endpoint requires.")

    shopify_shop: str | None = Field(None, validation_alias="SHOPIFY_SHOP", description="`name.myshopify.com`.")
    shopify_access_token: SecretStr | None = _secret("SHOPIFY_ACCESS_TOKEN", "Admin API access token.")
    shopify_client_id: str | None = Field(
        None, validation_alias="SHOPIFY_CLIENT_ID", description="App client id (client credentials)."
    )
    shopify_client_secret: SecretStr | None = _secret("SHOPIFY_CLIENT_SECRET", "App client secret.")

    # --- storelink as a Shopify app (docs/shopify-app.md) ------------------------------------
    app_url: str | None = Field(
        None,
        description="This deployment's public https URL as a Shopify app (install, callback, embedded page, "
        "webhooks); the app routes are off when unset.",
    )
    shopify_api_key: str | None = Field(
        None, validation_alias="SHOPIFY_API_KEY", description="The Shopify app's client id (its API key)."
    )
    shopify_api_secret: SecretStr | None = _secret(
        "SHOPIFY_API_SECRET", "The Shopify app's client secret: signs install redirects, session tokens, webhooks."
    )
    shopify_app_scopes: str = Field(
        "read_products,read_orders,read_inventory,read_customers,read_locations",
        validation_alias="SHOPIFY_APP_SCOPES",
        description="Access scopes the app asks a shop for at install, comma-separated.",
    )

    ga4_property_id: str | None = Field(None, validation_alias="GA4_PROPERTY_ID", description="GA4 property.")
    gsc_site_url: str | None = Field(None, validation_alias="GSC_SITE_URL", description="Search Console site.")
    google_application_credentials: Path | None = Field(
        None, validation_alias="GOOGLE_APPLICATION_CREDENTIALS", description="Service-account key file."
    )
    google_client_id: str | None = Field(None, validation_alias="GOOGLE_CLIENT_ID", description="OAuth client.")
    google_client_secret: SecretStr | None = _secret("GOOGLE_CLIENT_SECRET", "OAuth client secret.")
    google_refresh_token: SecretStr | None = _secret("GOOGLE_REFRESH_TOKEN", "OAuth refresh token.")

    google_token_url: str = Field(
        "https://oauth2.googleapis.com/token", description="Google's OAuth token endpoint (a fake in tests)."
    )

    bing_wmt_api_key: SecretStr | None = _secret("BING_WMT_API_KEY", "Bing Webmaster Tools API key.")
    bing_site_url: str | None = Field(None, validation_alias="BING_SITE_URL", description="Bing site.")

    zoho_dc: str = Field("com", validation_alias="ZOHO_DC", description="Zoho data centre (com, eu, in, …).")
    zoho_client_id: str | None = Field(None, validation_alias="ZOHO_CLIENT_ID", description="Zoho client.")
    zoho_client_secret: SecretStr | None = _secret("ZOHO_CLIENT_SECRET", "Zoho client secret.")
    zoho_refresh_token: SecretStr | None = _secret("ZOHO_REFRESH_TOKEN", "Zoho refresh token.")
    zoho_account_id: str | None = Field(
        None, validation_alias="ZOHO_ACCOUNT_ID", description="Zoho Mail account (the first one when unset)."
    )
    zoho_accounts_url: str | None = Field(
        None, description="Zoho accounts (OAuth) host; derived from ZOHO_DC when unset (a fake in tests)."
    )

    # --- per-connector knobs: STORELINK_<CONNECTOR>_<KNOB> ---------------------------------
    shopify: ShopifyKnobs = Field(default_factory=ShopifyKnobs)
    ga4: Ga4Knobs = Field(default_factory=Ga4Knobs)
    gsc: GscKnobs = Field(default_factory=GscKnobs)
    bing: BingKnobs = Field(default_factory=BingKnobs)
    zoho: ZohoKnobs = Field(default_factory=ZohoKnobs)
    site: SiteKnobs = Field(default_factory=SiteKnobs)
    llm: LlmKnobs = Field(default_factory=LlmKnobs)

    @model_validator(mode="before")
    @classmethod
    def _flat_names_are_not_knobs(cls, data: Any) -> Any:
        """``STORELINK_SITE_URL`` is the setting ``site_url``; the nested reading of the environment
        also offers it to the site's knobs as ``url``, which they would refuse. Drop that reading for
        every name that is a setting of its own (read under its ``STORELINK_`` name)."""
        if not isinstance(data, dict):
            return data
        for group, info in cls.model_fields.items():
            nested = data.get(group)
            if (
                isinstance(nested, dict)
                and isinstance(info.annotation, type)
                and issubclass(info.annotation, BaseModel)
            ):
                data[group] = {
                    key: value
                    for key, value in nested.items()
                    if not (
                        (flat := cls.model_fields.get(f"{group}_{key}")) is not None and flat.validation_alias is None
                    )
                }
        return data

    @field_validator("data_dir", mode="before")
    @classmethod
    def _data_dir_default(cls, value: Any) -> Any:
        if value is None or value == "":
            return user_data_dir()
        return Path(value).expanduser() if isinstance(value, str | Path) else value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parses(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked here so a typo is one clear line at start, not a traceback from the Redis client; the
        # message never repeats the URL, which may carry a password.
        if value is None or not value.get_secret_value():
            return None
        try:
            parts = urlsplit(value.get_secret_value())
            port = parts.port
        except ValueError:
            parts, port = None, None
        shape = "redis://[:password@]host[:port][/db], rediss://… or unix:///path/to/redis.sock"
        if parts is None or parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"not a Redis URL; use {shape}")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError(f"the Redis URL names no host; use {shape}")
        if port == 0:
            raise ValueError(f"the Redis URL's port is 0; use {shape}")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_keys_are_fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        for n, key in enumerate(value.get_secret_value().split(","), start=1):
            try:
                raw = base64.urlsafe_b64decode(key.strip().encode())
            except (ValueError, binascii.Error):
                raw = b""
            if len(raw) != 32:  # never echo the key: say which one, and how to make a good one
                raise ValueError(
                    f"key {n} is not a Fernet key (32 bytes, URL-safe base64); make one with `storelink db new-key`"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: SecretStr | None) -> SecretStr | None:
        # As for Redis: one clear line at start, never repeating the URL (it may carry a password).
        if value is None or not value.get_secret_value():
            return None
        try:
            parts = urlsplit(value.get_secret_value())
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("not a PostgreSQL URL; use postgresql://[user[:password]@]host[:port]/database")
        return value

    def knobs(self, connector: str) -> ConnectorKnobs:
        value = getattr(self, connector, None)
        if not isinstance(value, ConnectorKnobs):
            raise KeyError(f"no knobs for connector {connector!r}")
        return value

    def secret_values(self) -> list[str]:
        """Every secret currently set, for redaction filters. Never log what this returns."""
        return secret_values_of(self)


def secret_values_of(model: BaseModel) -> list[str]:
    """Every secret set in ``model`` and the models it holds, for redaction. Never log what this
    returns."""
    found: list[str] = []
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            found.extend(secret_values_of(value))
    return found


def environment_value(name: str) -> str | None:
    """One environment variable, read for a stores file's secret reference (``{ env = "NAME" }``)."""
    return os.environ.get(name)


def _home() -> Path:
    return Path(os.environ.get("HOME") or Path.home())


def user_data_dir() -> Path:
    """Where storelink keeps its data unless ``STORELINK_DATA_DIR`` says otherwise: the platform's
    per-user data directory (XDG on Linux), so it does not depend on the working directory."""
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or _home() / "AppData" / "Local") / "storelink"
    if sys.platform == "darwin":
        return _home() / "Library" / "Application Support" / "storelink"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else _home() / ".local" / "share") / "storelink"


def user_config_dir() -> Path:
    """The per-user configuration directory, whose ``.env`` every command reads (XDG on Linux)."""
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or _home() / "AppData" / "Roaming") / "storelink"
    if sys.platform == "darwin":
        return _home() / "Library" / "Application Support" / "storelink"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else _home() / ".config") / "storelink"


def env_files() -> list[Path]:
    """The ``.env`` files :func:`load_settings` reads, later ones winning: ``STORELINK_ENV_FILE``
    alone when set; else the user's (``~/.config/storelink/.env``) and the working directory's, those
    that exist. Variables set in the environment win over every file."""
    named = os.environ.get("STORELINK_ENV_FILE")
    if named:
        return [Path(named).expanduser()]
    candidates = [user_config_dir() / ".env", Path.cwd() / ".env"]
    found: list[Path] = []
    for path in candidates:
        if path.is_file() and path.resolve() not in {f.resolve() for f in found}:
            found.append(path)
    return found


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and :func:`env_files`; keyword overrides win, as constructor arguments do.
    A ``STORELINK_ENV_FILE`` that does not exist is an error, not silently nothing."""
    files = env_files()
    if os.environ.get("STORELINK_ENV_FILE") and not files[0].is_file():
        raise FileNotFoundError(f"STORELINK_ENV_FILE names {files[0]}, which is not a readable file")
    return Settings(_env_file=tuple(files) or None, **overrides)


class SettingRow(BaseModel):
    """One environment variable: its name, its effective value (secrets masked), its default."""

    env: str
    value: str
    default: str
    description: str
    secret: bool


# Defaults that are not a constant, as the reference shows them.
_DEFAULT_SHOWN = {
    "data_dir": "~/.local/share/storelink ($XDG_DATA_HOME/storelink; macOS, Windows: the user's app data)"
}


def _display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error's location (``("shopify", "rate_limit")``
    is ``STORELINK_SHOPIFY_RATE_LIMIT``), so a message names what the user set."""
    if not loc:
        return "settings"
    field = Settings.model_fields.get(str(loc[0]))
    if field is None:
        return ".".join(str(p) for p in loc)
    if isinstance(field.validation_alias, str):
        return field.validation_alias
    return "_".join(["STORELINK", *(str(p).upper() for p in loc[:2])])


def describe_settings(settings: Settings | None = None) -> list[SettingRow]:
    """Every knob with its variable name and default; with ``settings``, the effective values too.

    Secrets are shown as ``********`` when set: never their value, not even a prefix.
    """
    rows: list[SettingRow] = []
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, ConnectorKnobs):
            knobs_default = annotation()
            knobs_now = getattr(settings, name) if settings else knobs_default
            for knob, kinfo in annotation.model_fields.items():
                if f"{name}_{knob}" in Settings.model_fields:
                    continue  # a setting of its own (STORELINK_LLM_BASE_URL), described as such
                rows.append(
                    SettingRow(
                        env=f"STORELINK_{name.upper()}_{knob.upper()}",
                        value=_display(getattr(knobs_now, knob)),
                        default=_display(getattr(knobs_default, knob)),
                        description=kinfo.description or "",
                        secret=False,
                    )
                )
            continue
        alias = info.validation_alias if isinstance(info.validation_alias, str) else None
        secret = "SecretStr" in str(annotation)
        rows.append(
            SettingRow(
                env=alias or f"STORELINK_{name.upper()}",
                value=_display(getattr(settings, name)) if settings else "",
                default="" if secret else _DEFAULT_SHOWN.get(name, _display(info.default)),
                description=info.description or "",
                secret=secret,
            )
        )
    return rows
