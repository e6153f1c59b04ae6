"""Keys that reach named stores: ``STORELINK_MCP_KEYS_FILE`` (TOML). A key is a bearer for the
MCP endpoint over HTTP (:mod:`storelink.mcp_server.auth`) and for the dashboard's pages
(:mod:`storelink.web.auth`), reaching only its entry's stores in both.

::

    [[keys]]
    name = "agency-bot"      # the principal in logs and the audit log, never the key
    sha256 = "<hex>"         # SHA-256 of the key: printf %s "$KEY" | sha256sum
    stores = ["north", "south"]   # or ["*"]: every store
    writes = false           # optional: may it call write tools (STORELINK_ALLOW_WRITES still decides)

The file holds only hashes: a key itself is never stored, logged or compared as text. A presented
key is hashed and compared with every entry in constant time. Every mistake is a
:class:`~storelink.errors.ConfigurationError` that names the entry (its position and name) and
never repeats a hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storelink.access import EVERY_STORE, STORE_SCOPE_PREFIX, StoreAccess
from storelink.config_files import read_toml
from storelink.errors import ConfigurationError
from storelink.stores_file import STORE_ID

__all__ = ["KEYS_ISSUER", "McpKey", "McpKeys", "load_keys_file", "parse_keys"]

# The ``iss`` claim on a keys-file key's access token: its principal is "key:<name>", never a token issuer's.
KEYS_ISSUER = "storelink:keys-file"

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_EMPTY_KEY = hashlib.sha256(b"").digest()
_FIELDS = ("name", "sha256", "stores", "writes")


@dataclass(frozen=True, slots=True)
class McpKey:
    """One key of the file: its name, its hash, the stores it reaches (``None``: every store) and
    whether it may write."""

    name: str
    digest: bytes
    stores: frozenset[str] | None
    writes: bool

    @property
    def access(self) -> StoreAccess:
        return EVERY_STORE if self.stores is None else StoreAccess(self.stores)

    def store_scopes(self) -> list[str]:
        """The reach as OAuth-style scopes (``store:<id>``, ``store:*``), in a stable order."""
        if self.stores is None:
            return [f"{STORE_SCOPE_PREFIX}*"]
        return [f"{STORE_SCOPE_PREFIX}{store}" for store in sorted(self.stores)]


@dataclass(frozen=True, slots=True)
class McpKeys:
    """The keys of the file; :meth:`find` says which one a presented key is."""

    keys: tuple[McpKey, ...]

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, presented: str | None) -> McpKey | None:
        """The entry whose hash is ``presented``'s SHA-256, comparing with every entry in constant
        time (no early exit: the time does not say which entry, or how much of a hash, matched)."""
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode()).digest()
        found: McpKey | None = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    def names(self) -> list[str]:
        return [key.name for key in self.keys]


def load_keys_file(path: Path) -> McpKeys:
    """Read and check the keys file."""
    setting = "STORELINK_MCP_KEYS_FILE"
    return parse_keys(read_toml(path, setting=setting), source=f"{setting}={path}")


def parse_keys(document: Mapping[str, Any], *, source: str = "the MCP keys file") -> McpKeys:
    """Check every entry; the first mistake is a ConfigurationError naming the entry."""
    unknown = sorted(set(document) - {"keys"})
    if unknown:
        raise ConfigurationError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; use [[keys]] entries.")
    entries = document.get("keys")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(
            f"{source}: no keys; add [[keys]] entries (name, sha256, stores) or unset STORELINK_MCP_KEYS_FILE."
        )
    keys: list[McpKey] = []
    by_digest: dict[bytes, str] = {}
    by_name: set[str] = set()
    for position, entry in enumerate(entries, start=1):
        key = _entry(entry, f"{source}: entry {position}")
        if key.name in by_name:
            raise ConfigurationError(f"{source}: entry {position}: name {key.name!r} is used by an earlier entry.")
        if key.digest in by_digest:
            raise ConfigurationError(
                f"{source}: entry {position} ({key.name}) has the same sha256 as entry {by_digest[key.digest]}; "
                "each key must be different."
            )
        by_name.add(key.name)
        by_digest[key.digest] = f"{position} ({key.name})"
        keys.append(key)
    return McpKeys(tuple(keys))


def _entry(entry: Any, where: str) -> McpKey:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"{where}: must be a table ([[keys]] with name, sha256, stores).")
    name = entry.get("name")
    if not isinstance(name, str) or not KEY_NAME.match(name):
        raise ConfigurationError(
            f"{where}: `name` must be 1-64 letters, digits, '.', '_', '@' or '-' (it names the key in logs)."
        )
    where = f"{where} ({name})"
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        hint = (
            " Never put a key itself in the file: give its `sha256`."
            if {"key", "token", "secret"} & set(unknown)
            else ""
        )
        shown = ", ".join(repr(u[:40]) for u in unknown[:5])
        raise ConfigurationError(f"{where}: unknown field(s) {shown}; fields: {', '.join(_FIELDS)}.{hint}")
    digest = _digest(entry.get("sha256"), where)
    stores = _stores(entry.get("stores"), where)
    writes = entry.get("writes", False)
    if not isinstance(writes, bool):
        raise ConfigurationError(f"{where}: `writes` must be true or false.")
    return McpKey(name=name, digest=digest, stores=stores, writes=writes)


def _digest(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not _HEX_SHA256.match(value):
        raise ConfigurationError(
            f"{where}: `sha256` must be 64 hexadecimal characters, the SHA-256 of the key "
            '(printf %s "$KEY" | sha256sum).'
        )
    digest = bytes.fromhex(value)
    if hmac.compare_digest(digest, _EMPTY_KEY):
        raise ConfigurationError(f"{where}: `sha256` is the hash of an empty key; hash the key itself.")
    return digest


def _stores(value: Any, where: str) -> frozenset[str] | None:
    if not isinstance(value, list) or not value:
        raise ConfigurationError(f'{where}: `stores` must list at least one store id, or ["*"] for every store.')
    if not all(isinstance(store, str) for store in value):
        raise ConfigurationError(f"{where}: `stores` must be a list of store ids (strings).")
    ids: Sequence[str] = value
    if "*" in ids:
        if len(ids) > 1:
            raise ConfigurationError(f'{where}: `stores` is either ["*"] (every store) or store ids, not both.')
        return None
    bad = [store for store in ids if not STORE_ID.fullmatch(store)]
    if bad:
        raise ConfigurationError(
            f"{where}: `stores` has {len(bad)} invalid store id(s); an id is 1-63 lowercase letters, "
            "digits, '_' or '-', starting with a letter or digit."
        )
    return frozenset(ids)
