"""The shopify.app.toml: read back with tomllib, every URL the deployment's, the scopes the
subscriptions need, the compliance topics; bad input refused with what to set."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from storelink.errors import ConnectorError, ErrorKind
from storelink.shopify_app.app_config import app_config
from tests.shopify_app.app_support import API_KEY, app_settings


def test_the_file_reads_back_as_shopifys_app_configuration(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, app_url="https://sl.example.com/", shopify_app_scopes="read_products")
    parsed = tomllib.loads(app_config(settings, name='Store "link"').toml())
    assert parsed["client_id"] == API_KEY and parsed["name"] == 'Store "link"'
    assert parsed["application_url"] == "https://sl.example.com/shopify/app"
    assert parsed["embedded"] is True
    assert parsed["auth"]["redirect_urls"] == ["https://sl.example.com/shopify/callback"]
    # The configured scope first, then what the subscribed topics need.
    assert parsed["access_scopes"]["scopes"] == "read_products,read_inventory,read_orders"
    assert parsed["webhooks"]["api_version"] == "2026-10"
    topics, compliance = parsed["webhooks"]["subscriptions"]
    assert topics == {
        "topics": ["app/uninstalled", "products/update", "inventory_levels/update", "orders/create"],
        "uri": "https://sl.example.com/shopify/webhooks",
    }
    assert compliance == {
        "compliance_topics": ["customers/data_request", "customers/redact", "shop/redact"],
        "uri": "https://sl.example.com/shopify/webhooks",
    }


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"app_url": None}, "STORELINK_APP_URL is not set"),
        ({"app_url": "http://sl.example.com"}, "must be an https URL"),
        ({"app_url": "https://sl.example.com/?x=1"}, "must be an https URL"),
        ({"app_url": "sl.example.com"}, "must be an https URL"),
        ({"shopify_api_key": None}, "SHOPIFY_API_KEY is not set"),
    ],
)
def test_bad_input_says_what_to_set(tmp_path: Path, overrides: dict[str, object], says: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        app_config(app_settings(tmp_path, **overrides))
    assert caught.value.kind is ErrorKind.NOT_CONFIGURED and says in caught.value.message
