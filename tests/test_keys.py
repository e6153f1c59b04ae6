"""The MCP keys file: hashes only, every mistake named by its entry, keys found in constant time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from storelink.errors import ConfigurationError
from storelink.keys import McpKeys, load_keys_file, parse_keys
from tests.support.keys import sha

NORTH = sha("north-key-0123456789")
AGENCY = sha("agency-key-0123456789")

GOOD = f"""
[[keys]]
name = "north-bot"
sha256 = "{NORTH}"
stores = ["north"]

[[keys]]
name = "agency@example"
sha256 = "{AGENCY.upper()}"
stores = ["*"]
writes = true
"""


def entry(**changes: Any) -> dict[str, Any]:
    return {"name": "bot", "sha256": NORTH, "stores": ["north"], **changes}


def test_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(GOOD)
    keys = load_keys_file(path)
    assert keys.names() == ["north-bot", "agency@example"]
    north = keys.find("north-key-0123456789")
    assert north is not None
    assert (north.name, north.stores, north.writes) == ("north-bot", frozenset({"north"}), False)
    assert north.store_scopes() == ["store:north"]
    assert north.access.allows("north") and not north.access.allows("south")
    agency = keys.find("agency-key-0123456789")
    assert agency is not None and agency.stores is None and agency.writes
    assert agency.store_scopes() == ["store:*"]
    assert agency.access.allows("anything")


@pytest.mark.parametrize("presented", [None, "", "north-key-012345678", "north-key-0123456789 ", NORTH, "NORTH"])
def test_only_the_key_itself_is_found(presented: str | None) -> None:
    keys = parse_keys({"keys": [entry()]})
    assert keys.find(presented) is None  # not a prefix, not with a space, not the hash itself


def test_a_key_is_compared_with_every_entry() -> None:
    # No early exit: find() walks every entry whichever one matches (constant time over the file).
    many = McpKeys(parse_keys({"keys": [entry(name=f"k{i}", sha256=sha(f"key-{i}")) for i in range(5)]}).keys)
    for i in range(5):
        found = many.find(f"key-{i}")
        assert found is not None and found.name == f"k{i}"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, "no keys"),
        ({"keys": []}, "no keys"),
        ({"key": [entry()]}, "unknown top-level key"),
        ({"keys": ["north"]}, "entry 1: must be a table"),
        ({"keys": [entry(name="")]}, "entry 1: `name`"),
        ({"keys": [entry(name="two words")]}, "entry 1: `name`"),
        ({"keys": [entry(sha256="abc")]}, r"entry 1 \(bot\): `sha256` must be 64 hexadecimal"),
        ({"keys": [entry(sha256="z" * 64)]}, r"entry 1 \(bot\): `sha256` must be 64 hexadecimal"),
        ({"keys": [entry(sha256=NORTH + "00")]}, r"entry 1 \(bot\): `sha256` must be 64 hexadecimal"),
        ({"keys": [entry(sha256=1234)]}, r"entry 1 \(bot\): `sha256`"),
        ({"keys": [entry(sha256=sha(""))]}, "hash of an empty key"),
        ({"keys": [entry(stores=[])]}, r"entry 1 \(bot\): `stores` must list at least one"),
        ({"keys": [entry(stores="north")]}, r"entry 1 \(bot\): `stores` must list"),
        ({"keys": [entry(stores=[1])]}, r"entry 1 \(bot\): `stores` must be a list of store ids"),
        ({"keys": [entry(stores=["*", "north"])]}, r'either \["\*"\]'),
        ({"keys": [entry(stores=["North"])]}, "1 invalid store id"),
        ({"keys": [entry(stores=["../south"])]}, "1 invalid store id"),
        ({"keys": [entry(stores=["north\n"])]}, "1 invalid store id"),
        ({"keys": [entry(writes="yes")]}, "`writes` must be true or false"),
        ({"keys": [entry(scopes=["x"])]}, r"entry 1 \(bot\): unknown field\(s\) 'scopes'"),
        ({"keys": [entry(key="the-key-itself")]}, "Never put a key itself in the file"),
        ({"keys": [entry(), entry(name="other")]}, r"entry 2 \(other\) has the same sha256 as entry 1 \(bot\)"),
        ({"keys": [entry(), entry(sha256=NORTH.upper(), name="o")]}, r"entry 2 \(o\) has the same sha256"),
        ({"keys": [entry(), entry(sha256=AGENCY)]}, "entry 2: name 'bot' is used by an earlier entry"),
    ],
)
def test_every_mistake_names_its_entry(document: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected) as raised:
        parse_keys(document, source="keys.toml")
    text = str(raised.value)
    assert text.startswith("keys.toml: ")
    assert NORTH not in text.lower() and AGENCY not in text.lower()  # a hash is never repeated
    assert "the-key-itself" not in text


def test_a_file_that_is_missing_or_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_keys_file(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[keys]\nname = ")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_keys_file(bad)
