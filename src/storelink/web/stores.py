"""Which store a page is for, and the store switcher every page carries.

Store-bound pages live under ``/app/stores/<store>/…``; the single-store URLs of before (``/``,
``/app/connectors/<name>``, ``/app/metrics``, …) stay as aliases of the *first* store, so
bookmarks keep working. A store id in a URL must match the stores file's id pattern
(:data:`~storelink.stores_file.STORE_ID`) and name a configured store; anything else is
:class:`NoSuchStore` (a 404 page that lists the stores and never repeats what was asked for).
There is no fall-back to another store.

Operators (a session, a trusted proxy's user, loopback) reach every store; a keys-file key
presented as a bearer (web/auth.py) reaches its entry's stores only (:func:`store_access`). A store
out of the request's reach is :class:`StoreForbidden` (403), checked before whether it exists, so
a key learns nothing about other stores; the switcher, the listings and the all-stores page name
only the stores within reach.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

from storelink.access import EVERY_STORE, StoreAccess
from storelink.runtime import StoreDirectory
from storelink.stores import StoreConfig
from storelink.stores_file import STORE_ID

__all__ = [
    "LISTED_MAX",
    "STORES_PATH",
    "SWITCHER_MAX",
    "NoSuchStore",
    "StoreForbidden",
    "StoreLink",
    "Switcher",
    "alias_url",
    "linker",
    "page_suffix",
    "reachable_stores",
    "requested_store",
    "store_access",
    "store_listing",
    "store_url",
    "switcher",
]

STORES_PATH = "/app/stores"
SWITCHER_MAX = 30  # stores named in the header's switcher; beyond, a filter on the overview
LISTED_MAX = 30  # stores named on a "no such store" page

# The single-store pages of before, and what follows /app/stores/<store>/ for each.
_ALIASES = {"/": "", "/app": ""}
_ALIAS_PREFIXES = ("connectors/", "metrics", "settings", "slo", "insights")


class NoSuchStore(LookupError):
    """The request names no store of this deployment (the text asked for is not kept)."""


class StoreForbidden(PermissionError):
    """The request's credential may not reach the store it names (the text asked for is not kept)."""


def store_access(request: Request) -> StoreAccess:
    """The stores the request may reach, as the guard (web/auth.py) set them; every store when
    no guard ran (an app without one serves no page: ``page`` refuses)."""
    found = request.scope.get("state", {}).get("store_access")
    return found if isinstance(found, StoreAccess) else EVERY_STORE


def reachable_stores(directory: StoreDirectory, access: StoreAccess) -> list[StoreConfig]:
    """The deployment's stores within ``access``, in order."""
    return [s for s in directory.stores() if access.allows(s.id)]


def store_url(store_id: str, rest: str = "") -> str:
    """``/app/stores/<store>`` and, after it, ``rest`` (a page of that store)."""
    base = f"{STORES_PATH}/{store_id}"
    return f"{base}/{rest}" if rest else base


def alias_url(rest: str = "") -> str:
    """``rest``'s single-store URL of before (the first store's): ``/`` or ``/app/<rest>``."""
    return f"/app/{rest}" if rest else "/"


def linker(request: Request, resolved: str | None) -> Callable[[str], str]:
    """How a page links to its store's other pages: in the shape it was asked for. A page under
    ``/app/stores/<store>`` whose store was ``resolved`` links under it; an alias (and a page of
    no store) links to the aliases, so the single-store URLs stay among themselves."""
    asked = request.path_params.get("store")
    if resolved is not None and asked == resolved:
        return functools.partial(store_url, resolved)
    return alias_url


def page_suffix(path: str) -> str:
    """The kind of page ``path`` is, as what follows ``/app/stores/<store>/``: ``""`` for a
    store's overview (and for pages that belong to no store), ``connectors/shopify``, ``metrics``…"""
    if path in _ALIASES:
        return _ALIASES[path]
    if path.startswith(STORES_PATH + "/"):
        _, _, rest = path.removeprefix(STORES_PATH + "/").partition("/")
        kind = rest.rstrip("/")
    elif path.startswith("/app/"):
        kind = path.removeprefix("/app/").rstrip("/")
    else:
        return ""
    if kind.endswith("/probe"):  # a form's target: the page it came from is the connector's
        kind = kind.removesuffix("/probe")
    return kind if kind.startswith(_ALIAS_PREFIXES) else ""


def requested_store(request: Request, directory: StoreDirectory) -> str:
    """The store the request is for: the ``store`` in its path, or the first store on the
    single-store URLs. :class:`StoreForbidden` when that store is out of the request's reach
    (whether or not it exists), :class:`NoSuchStore` when the path names none of the stores."""
    ids = directory.ids()
    access = store_access(request)
    raw = request.path_params.get("store")
    if raw is None:
        if not ids:
            raise NoSuchStore
        if not access.allows(ids[0]):
            raise StoreForbidden
        return ids[0]
    if not isinstance(raw, str) or not access.allows(raw):
        raise StoreForbidden
    if not STORE_ID.fullmatch(raw) or raw not in ids:
        raise NoSuchStore
    return raw


@dataclass(frozen=True, slots=True)
class StoreLink:
    id: str
    name: str
    href: str
    current: bool = False


@dataclass(frozen=True, slots=True)
class Switcher:
    """The header's store switcher: links to the same kind of page in other stores."""

    current: StoreLink | None
    links: list[StoreLink]
    total: int
    all_url: str = STORES_PATH

    @property
    def more(self) -> int:
        """Stores not named in :attr:`links` (find them on the overview)."""
        return self.total - len(self.links)


def switcher(
    directory: StoreDirectory, current: str | None, suffix: str = "", access: StoreAccess = EVERY_STORE
) -> Switcher:
    """Links to ``suffix`` in each store within ``access``: the first :data:`SWITCHER_MAX`, the
    current one always among them."""
    stores = reachable_stores(directory, access)
    shown = stores[:SWITCHER_MAX]
    if current is not None and all(s.id != current for s in shown):
        shown = [*shown[: SWITCHER_MAX - 1], *(s for s in stores if s.id == current)]
    links = [StoreLink(s.id, s.name, store_url(s.id, suffix), s.id == current) for s in shown]
    here = next((link for link in links if link.current), None)
    base = StoreLink(here.id, here.name, store_url(here.id), True) if here else None
    return Switcher(current=base, links=links, total=len(stores))


def store_listing(
    directory: StoreDirectory, limit: int = LISTED_MAX, access: StoreAccess = EVERY_STORE
) -> tuple[list[StoreLink], int]:
    """The first ``limit`` stores within ``access`` as links to their overview, and how many more
    there are."""
    stores = reachable_stores(directory, access)
    return [StoreLink(s.id, s.name, store_url(s.id)) for s in stores[:limit]], max(0, len(stores) - limit)
