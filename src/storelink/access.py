"""Which stores a caller may reach, and which store a call is for.

A caller's reach comes with its credential: an MCP key from the keys file names its stores, an
OAuth token carries ``store:<id>`` scopes (``store:*`` for all), the operator's own ``MCP_API_KEY``,
stdio and the CLI reach every store. A token without any ``store:`` scope reaches only the store
the environment describes (``default``), so a single-store deployment works as it always has.

A store outside the caller's reach is ``forbidden``, whether or not it exists (a caller scoped to
one store learns nothing about the others), and never falls back to another store. Messages never
repeat the id asked for (it is the caller's text).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storelink.errors import ConnectorError, ErrorKind
from storelink.stores import DEFAULT_STORE

__all__ = ["EVERY_STORE", "STORE_SCOPE_PREFIX", "StoreAccess", "access_from_scopes"]

STORE_SCOPE_PREFIX = "store:"


@dataclass(frozen=True)
class StoreAccess:
    """The stores a caller may reach (``None``: every store)."""

    stores: frozenset[str] | None

    def allows(self, store_id: str) -> bool:
        return self.stores is None or store_id in self.stores

    def reachable(self, ids: Sequence[str]) -> list[str]:
        """Of ``ids`` (the deployment's stores, in order), those this caller may reach."""
        return [i for i in ids if self.allows(i)]

    def choose(self, ids: Sequence[str], requested: str | None) -> str:
        """The store a call is for: ``requested`` when the caller may reach it, else the only store
        it can reach. Anything else is a :class:`ConnectorError` that says what to pass."""
        if requested is not None:
            if not self.allows(requested):
                raise ConnectorError(
                    ErrorKind.FORBIDDEN,
                    f"This credential may not reach the store it asked for; it reaches: "
                    f"{_listing(self.reachable(ids))}.",
                    retryable=False,
                )
            if requested not in ids:
                raise ConnectorError(
                    ErrorKind.INVALID_REQUEST,
                    f"There is no such store. Stores: {_listing(list(ids))}.",
                    retryable=False,
                )
            return requested
        reachable = self.reachable(ids)
        if len(reachable) == 1:
            return reachable[0]
        if not reachable:
            raise ConnectorError(
                ErrorKind.FORBIDDEN,
                "This credential reaches none of this deployment's stores; ask for one with a "
                f"`{STORE_SCOPE_PREFIX}<id>` scope (or a key that names it).",
                retryable=False,
            )
        raise ConnectorError(
            ErrorKind.INVALID_REQUEST,
            f"Say which store (`store`; `--store` on the command line): one of {_listing(reachable)}.",
            retryable=False,
        )


EVERY_STORE = StoreAccess(None)


def access_from_scopes(scopes: Iterable[str]) -> StoreAccess:
    """An OAuth token's reach: its ``store:<id>`` scopes; ``store:*`` is every store; none at all
    is the environment's store only."""
    named = {s.removeprefix(STORE_SCOPE_PREFIX) for s in scopes if s.startswith(STORE_SCOPE_PREFIX)}
    if "*" in named:
        return EVERY_STORE
    return StoreAccess(frozenset(named) if named else frozenset({DEFAULT_STORE}))


def _listing(ids: list[str], limit: int = 20) -> str:
    if not ids:
        return "none"
    shown = ", ".join(ids[:limit])
    return shown if len(ids) <= limit else f"{shown}, … ({len(ids)} in all)"
