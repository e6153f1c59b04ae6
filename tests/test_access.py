"""Which store a call is for: the one asked for when the caller may reach it, the only one it can
reach when it asks for none, and `forbidden` for any other, existing or not."""

from __future__ import annotations

import pytest

from storelink.access import EVERY_STORE, StoreAccess, access_from_scopes
from storelink.errors import ConnectorError, ErrorKind

IDS = ["north", "south", "east"]
HOSTILE = ["", " north", "NORTH", "north\n", "../south", "*", "south' OR '1'='1", "x" * 10_000, "nörth", "default"]


def test_a_scoped_caller_reaches_its_stores_and_nothing_else() -> None:
    north = StoreAccess(frozenset({"north"}))
    assert north.choose(IDS, "north") == "north"
    assert north.choose(IDS, None) == "north"  # the only one it can reach
    for other in ["south", "east", "nowhere", *HOSTILE]:
        with pytest.raises(ConnectorError) as refused:
            north.choose(IDS, other)
        assert refused.value.kind is ErrorKind.FORBIDDEN
        # The same words whatever was asked: nothing of the caller's text, nothing of other stores.
        assert refused.value.message == "This credential may not reach the store it asked for; it reaches: north."


def test_a_caller_of_several_stores_must_say_which() -> None:
    two = StoreAccess(frozenset({"north", "south"}))
    which = r"Say which store \(`store`; `--store` on the command line\): one of north, south"
    with pytest.raises(ConnectorError, match=which) as asked:
        two.choose(IDS, None)
    assert asked.value.kind is ErrorKind.INVALID_REQUEST
    assert EVERY_STORE.choose(["only"], None) == "only"


def test_an_unknown_store_is_invalid_for_a_caller_of_every_store() -> None:
    with pytest.raises(ConnectorError, match=r"There is no such store\. Stores: north, south, east") as refused:
        EVERY_STORE.choose(IDS, "west")
    assert refused.value.kind is ErrorKind.INVALID_REQUEST


def test_a_caller_that_reaches_no_store_is_told_how_to_get_one() -> None:
    with pytest.raises(ConnectorError, match="reaches none") as refused:
        StoreAccess(frozenset({"gone"})).choose(IDS, None)
    assert refused.value.kind is ErrorKind.FORBIDDEN


def test_token_scopes_name_the_stores() -> None:
    assert access_from_scopes(["storelink:read", "store:north", "store:east"]) == StoreAccess(
        frozenset({"north", "east"})
    )
    assert access_from_scopes(["storelink:read", "store:*"]) == EVERY_STORE
    # No store scope at all: the environment's store, as a single-store deployment always served.
    assert access_from_scopes(["storelink:read"]) == StoreAccess(frozenset({"default"}))
