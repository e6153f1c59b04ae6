"""The stores file (``STORELINK_STORES_FILE``): the stores one deployment serves, in TOML.

::

    [[stores]]
    id = "north"                      # letters, digits, - and _; how tools, pages and keys name it
    name = "North Coast Parts"
    website = "https://north.example"

    [stores.shopify]
    shop = "north-coast.myshopify.com"
    access_token = { env = "NORTH_SHOPIFY_TOKEN" }     # a secret is a reference, never inline
    knobs = { timeout = 5.0 }                          # overrides STORELINK_SHOPIFY_TIMEOUT here

    [stores.google]                                    # GA4 and Search Console sign in with it
    refresh_token = { file = "/run/secrets/north-google" }

A connector a store does not list is ``disabled`` for it; one listed without its credentials runs in
mock mode (and ``storelink stores list`` names what it lacks), as a single store does today. Knobs,
the write rule and the Google token endpoint default to the deployment's (the environment's).
Every mistake is a :class:`~storelink.errors.ConfigurationError` naming the store and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from storelink.config_files import read_toml
from storelink.errors import ConfigurationError, describe_validation_error
from storelink.settings import ConnectorKnobs, Settings, environment_value
from storelink.stores import (
    BingSettings,
    ConnectorSettings,
    Ga4Settings,
    GoogleAccount,
    GoogleSettings,
    GscSettings,
    ShopifySettings,
    StoreConfig,
    ZohoSettings,
    demo_stores,
    environment_store,
)

__all__ = ["STORE_ID", "configured_stores", "load_stores_file", "parse_stores"]

M = TypeVar("M", bound=BaseModel)

# Matched whole (fullmatch): `$` alone would let a trailing newline through.
STORE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CONNECTORS: dict[str, type[ConnectorSettings]] = {
    "shopify": ShopifySettings,
    "ga4": Ga4Settings,
    "gsc": GscSettings,
    "bing": BingSettings,
    "zoho": ZohoSettings,
}
_STORE_KEYS = {"id", "name", "website", "allow_writes", "google", *_CONNECTORS}
_GOOGLE_KEYS = {"application_credentials", "client_id", "client_secret", "refresh_token"}


def configured_stores(settings: Settings) -> list[StoreConfig]:
    """The stores this deployment serves: the stores file's, else ``STORELINK_DEMO_STORES`` demo
    stores, else the one the environment describes (``default``)."""
    if settings.stores_file is not None:
        return load_stores_file(settings.stores_file, settings)
    if settings.demo_stores > 1:
        return demo_stores(settings, settings.demo_stores)
    return [environment_store(settings)]


def load_stores_file(path: Path, settings: Settings) -> list[StoreConfig]:
    """Read and check the stores file; the environment's settings are every store's defaults."""
    document = read_toml(path, setting="STORELINK_STORES_FILE")
    return parse_stores(document, settings, base_dir=path.parent, source=str(path))


def parse_stores(
    document: Mapping[str, Any], settings: Settings, *, base_dir: Path, source: str = "the stores file"
) -> list[StoreConfig]:
    unknown = set(document) - {"stores"}
    if unknown:
        raise ConfigurationError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}; use [[stores]].")
    entries = document.get("stores")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{source} lists no stores; add at least one [[stores]] table with an id.")
    stores: list[StoreConfig] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            raise ConfigurationError(f"{source}: store #{n} is not a table.")
        store = _store(entry, settings, base_dir=base_dir, where=f"{source}, store #{n}", demo_index=n - 1)
        if store.id in seen:
            raise ConfigurationError(f"{source}: store id {store.id!r} appears twice; ids must be unique.")
        seen.add(store.id)
        stores.append(store)
    return stores


def _store(entry: dict[str, Any], settings: Settings, *, base_dir: Path, where: str, demo_index: int) -> StoreConfig:
    store_id = entry.get("id")
    if not isinstance(store_id, str) or not STORE_ID.fullmatch(store_id):
        raise ConfigurationError(
            f"{where}: `id` must be 1-63 lower-case letters, digits, - or _, starting with a letter or digit."
        )
    where = f"{where} ({store_id})"
    unknown = set(entry) - _STORE_KEYS
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; a store has {', '.join(sorted(_STORE_KEYS))}."
        )
    common: dict[str, Any] = {
        "store": store_id,
        "allow_writes": _text(entry, "allow_writes", where) or settings.allow_writes,
        "website": _text(entry, "website", where) or None,
    }
    google = _google(entry.get("google", {}), settings, base_dir=base_dir, where=f"{where} [google]")
    connectors: dict[str, ConnectorSettings] = {}
    for name, kind in _CONNECTORS.items():
        table = entry.get(name)
        knobs: ConnectorKnobs = settings.knobs(name)
        signs_in = {"google": google} if issubclass(kind, GoogleSettings) else {}
        if table is None:
            # Not listed for this store: off, whatever the deployment's flag says.
            off = knobs.model_copy(update={"enabled": False})
            connectors[name] = _build(kind, {**common, **signs_in, "knobs": off}, where)
            continue
        if not isinstance(table, dict):
            raise ConfigurationError(f"{where}: [{name}] must be a table.")
        _refuse_inline_secrets(kind, table, where=f"{where} [{name}]")
        fields = {k: _resolve(v, base_dir=base_dir, where=f"{where} [{name}] {k}") for k, v in table.items()}
        overrides = fields.pop("knobs", {})
        if not isinstance(overrides, dict):
            raise ConfigurationError(f"{where} [{name}]: `knobs` must be a table of STORELINK_{name.upper()}_* names.")
        fields["knobs"] = _knobs(knobs, overrides, where=f"{where} [{name}] knobs")
        connectors[name] = _build(kind, {**common, **signs_in, **fields}, f"{where} [{name}]")
    name = _text(entry, "name", where) or store_id
    # In mock mode (a connector without its credentials) each store's fakes serve their own demo data.
    return StoreConfig(id=store_id, name=name, connectors=connectors, demo_index=demo_index)


def _google(table: Any, settings: Settings, *, base_dir: Path, where: str) -> GoogleAccount:
    if not isinstance(table, dict):
        raise ConfigurationError(f"{where} must be a table.")
    unknown = set(table) - _GOOGLE_KEYS
    if unknown:
        raise ConfigurationError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}.")
    _refuse_inline_secrets(GoogleAccount, table, where=where)
    fields = {k: _resolve(v, base_dir=base_dir, where=f"{where} {k}") for k, v in table.items()}
    if isinstance(fields.get("application_credentials"), str):
        fields["application_credentials"] = base_dir / fields["application_credentials"]
    return _build(GoogleAccount, {**fields, "token_url": settings.google_token_url}, where)


def _knobs(defaults: ConnectorKnobs, overrides: dict[str, Any], *, where: str) -> ConnectorKnobs:
    try:
        return type(defaults).model_validate({**defaults.model_dump(exclude_unset=True), **overrides})
    except ValidationError as exc:
        raise ConfigurationError(
            f"{where}: {describe_validation_error(exc, allowed=type(defaults).model_fields)}"
        ) from None


def _build(kind: type[M], fields: dict[str, Any], where: str) -> M:
    try:
        return kind.model_validate(fields)
    except ValidationError as exc:
        raise ConfigurationError(f"{where}: {describe_validation_error(exc, allowed=kind.model_fields)}") from None


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key, "")
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: `{key}` must be a string.")
    return value


def _refuse_inline_secrets(kind: type[BaseModel], table: Mapping[str, Any], *, where: str) -> None:
    """A secret written into the file would be read by everyone who can read the file: refuse it."""
    for key, value in table.items():
        field = kind.model_fields.get(key)
        if field is not None and "SecretStr" in str(field.annotation) and not isinstance(value, dict):
            raise ConfigurationError(
                f'{where}: `{key}` is a secret; reference it as {key} = {{ env = "NAME" }} or '
                f'{key} = {{ file = "path" }} instead of writing it into the stores file.'
            )


def _resolve(value: Any, *, base_dir: Path, where: str) -> Any:
    """A secret reference becomes its value; anything else stays as written."""
    if not isinstance(value, dict) or not ({"env", "file"} & set(value)):
        return value
    if set(value) not in ({"env"}, {"file"}):
        raise ConfigurationError(f'{where}: a secret reference is {{ env = "NAME" }} or {{ file = "path" }}.')
    if "env" in value:
        found = environment_value(str(value["env"]))
        if not found:
            raise ConfigurationError(f"{where}: the environment variable {value['env']} it names is not set.")
        return SecretStr(found.strip())
    path = base_dir / str(value["file"])
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except OSError as exc:
        raise ConfigurationError(f"{where}: the file {path} it names cannot be read ({type(exc).__name__}).") from None
