"""The stores file: every store's settings from TOML, secrets only by reference, and a clear error
naming the store and the field for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from storelink.errors import ConfigurationError
from storelink.stores import DEFAULT_STORE, Ga4Settings, GscSettings, ShopifySettings, settings_as
from storelink.stores_file import configured_stores, load_stores_file
from tests.conftest import make_settings

TWO_STORES = """
[[stores]]
id = "north"
name = "North Coast Parts"
website = "https://north.example"

[stores.shopify]
shop = "north-coast.myshopify.com"
access_token = { env = "STORELINK_TEST_NORTH_TOKEN" }
knobs = { timeout = 5.0, rate_limit = 50 }

[stores.google]
client_id = "north-client"
client_secret = { file = "secrets/google-secret" }
refresh_token = { file = "secrets/google-refresh" }

[stores.ga4]
property_id = "111"

[stores.gsc]
site_url = "sc-domain:north.example"

[[stores]]
id = "south"

[stores.shopify]
shop = "south.myshopify.com"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stores.toml"
    path.write_text(text)
    return path


def test_two_stores_with_referenced_secrets_and_their_own_knobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORELINK_TEST_NORTH_TOKEN", "shpat_north_secret")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/google-secret").write_text("g-secret\n")
    (tmp_path / "secrets/google-refresh").write_text("1//north-refresh\n")
    settings = make_settings(tmp_path, shopify={"timeout": 9.0, "deadline": 40.0}, allow_writes="zoho.*")
    north, south = load_stores_file(_write(tmp_path, TWO_STORES), settings)

    assert (north.id, north.name, south.id, south.name) == ("north", "North Coast Parts", "south", "south")
    assert (north.demo_index, south.demo_index) == (0, 1)
    shopify = settings_as(north.connector("shopify"), ShopifySettings)
    assert shopify.access_token is not None and shopify.access_token.get_secret_value() == "shpat_north_secret"
    # The store's knobs win; the rest are the deployment's (the environment's).
    assert (shopify.knobs.timeout, shopify.knobs.rate_limit, shopify.knobs.deadline) == (5.0, 50.0, 40.0)
    assert (shopify.store, shopify.website, shopify.allow_writes) == ("north", "https://north.example", "zoho.*")
    ga4 = settings_as(north.connector("ga4"), Ga4Settings)
    assert ga4.property_id == "111" and ga4.google.missing() == []
    assert ga4.google.refresh_token is not None and ga4.google.refresh_token.get_secret_value() == "1//north-refresh"
    assert settings_as(north.connector("gsc"), GscSettings).google == ga4.google
    # Not listed: off for that store, whatever the deployment's flag says.
    assert not north.connector("bing").knobs.enabled and not south.connector("ga4").knobs.enabled
    assert south.connector("shopify").knobs.enabled
    assert sorted(north.secret_values()) == sorted(
        ["shpat_north_secret", "g-secret", "1//north-refresh"] * 1 + ["g-secret", "1//north-refresh"]
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "lists no stores"),
        ('[store]\nid = "x"', "unknown top-level key"),
        ('[[stores]]\nname = "x"', "`id` must be 1-63 lower-case"),
        ('[[stores]]\nid = "North Shop"', "`id` must be 1-63 lower-case"),
        ('[[stores]]\nid = "north\\n"', "`id` must be 1-63 lower-case"),
        ('[[stores]]\nid = "a"\n[[stores]]\nid = "a"', "store id 'a' appears twice"),
        ('[[stores]]\nid = "a"\ncolour = "red"', "unknown key(s) colour"),
        ('[[stores]]\nid = "a"\n[stores.shopify]\naccess_token = "shpat_inline"', "is a secret; reference it"),
        ('[[stores]]\nid = "a"\n[stores.shopify]\naccess_token = { env = "STORELINK_TEST_UNSET" }', "is not set"),
        ('[[stores]]\nid = "a"\n[stores.shopify]\naccess_token = { file = "nope" }', "cannot be read"),
        ('[[stores]]\nid = "a"\n[stores.shopify]\naccess_token = { env = "X", file = "y" }', "a secret reference is"),
        ('[[stores]]\nid = "a"\n[stores.shopify]\nknobs = { timeout = -1 }', "(a) [shopify] knobs: "),
        ('[[stores]]\nid = "a"\n[stores.shopify]\nknobs = { colour = 1 }', "colour"),
        ('[[stores]]\nid = "a"\n[stores.shopify]\nshop_name = "x"', "(a) [shopify]"),
        ('[[stores]]\nid = "a"\n[stores.google]\nrefresh_token = "1//inline"', "is a secret; reference it"),
        ("[[stores]\nid =", "is not valid TOML"),
    ],
)
def test_every_mistake_names_the_store_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_stores_file(_write(tmp_path, text), make_settings(tmp_path))
    assert message in str(caught.value)
    assert "shpat_inline" not in str(caught.value) and "1//inline" not in str(caught.value)


def test_a_missing_file_says_which_variable_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"STORELINK_STORES_FILE=.*does not exist"):
        configured_stores(make_settings(tmp_path, stores_file=tmp_path / "absent.toml"))


def test_without_a_file_the_environment_is_one_store_or_n_demo_stores(tmp_path: Path) -> None:
    (only,) = configured_stores(make_settings(tmp_path, shopify_shop="one.myshopify.com"))
    assert only.id == DEFAULT_STORE and only.name == "one.myshopify.com"

    demos = configured_stores(make_settings(tmp_path, demo_stores=10, shopify_access_token="shpat_live"))
    assert [s.id for s in demos] == [f"demo-{n}" for n in range(1, 11)]
    assert len({s.name for s in demos}) == 10
    assert [s.demo_index for s in demos] == list(range(10))
    # Demo stores carry no credentials: they are always mock, whatever the environment holds.
    assert all(s.secret_values() == [] for s in demos)
