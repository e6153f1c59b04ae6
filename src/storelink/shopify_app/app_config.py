"""The ``shopify.app.toml`` for a deployment (``storelink shopify app-config``).

Shopify CLI deploys an app's configuration from this file: its client id and name, the URL the
admin opens (``application_url``, the embedded page), the install's redirect URL, the access
scopes, and the webhook subscriptions, compliance topics included. Every URL is this deployment's
(``STORELINK_APP_URL``), which must be https: Shopify calls it from the internet.

The scopes written are ``SHOPIFY_APP_SCOPES`` plus any a subscribed topic needs (a subscription
to ``orders/create`` without ``read_orders`` would be refused at deploy). The file is written by
hand rather than with a TOML library: it is a fixed shape of strings and lists, every string
escaped as a TOML basic string (JSON's escapes are valid TOML), and the tests read it back with
``tomllib``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from storelink.errors import ConnectorError, ErrorKind
from storelink.settings import Settings
from storelink.shopify_app.install import CALLBACK_PATH

__all__ = ["COMPLIANCE_TOPICS", "TOPICS", "AppConfig", "app_config"]

APP_PATH = "/shopify/app"
WEBHOOKS_PATH = "/shopify/webhooks"
# Topic -> the access scope it needs (Shopify's webhook reference).
TOPICS: dict[str, str | None] = {
    "app/uninstalled": None,
    "products/update": "read_products",
    "inventory_levels/update": "read_inventory",
    "orders/create": "read_orders",
}
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")


@dataclass(frozen=True, slots=True)
class AppConfig:
    name: str
    client_id: str
    app_url: str
    scopes: list[str]
    api_version: str

    def toml(self) -> str:
        def s(text: str) -> str:
            return json.dumps(text, ensure_ascii=False)

        def strings(items: list[str] | tuple[str, ...]) -> str:
            return "[ " + ", ".join(s(item) for item in items) + " ]"

        hooks = self.app_url + WEBHOOKS_PATH
        return "\n".join(
            [
                f"# Written by `storelink shopify app-config` for {self.app_url}; deploy it with `shopify app deploy`.",
                f"client_id = {s(self.client_id)}",
                f"name = {s(self.name)}",
                f"application_url = {s(self.app_url + APP_PATH)}",
                "embedded = true",
                "",
                "[access_scopes]",
                f"scopes = {s(','.join(self.scopes))}",
                "",
                "[auth]",
                f"redirect_urls = {strings([self.app_url + CALLBACK_PATH])}",
                "",
                "[webhooks]",
                f"api_version = {s(self.api_version)}",
                "",
                "[[webhooks.subscriptions]]",
                f"topics = {strings(list(TOPICS))}",
                f"uri = {s(hooks)}",
                "",
                "[[webhooks.subscriptions]]",
                f"compliance_topics = {strings(COMPLIANCE_TOPICS)}",
                f"uri = {s(hooks)}",
                "",
            ]
        )


def app_config(settings: Settings, *, name: str = "storelink") -> AppConfig:
    """The deployment's app configuration, or ``ConnectorError(not_configured)`` saying what to set."""
    url = (settings.app_url or "").strip().rstrip("/")
    if not url:
        raise ConnectorError(
            ErrorKind.NOT_CONFIGURED,
            "STORELINK_APP_URL is not set: set it to this deployment's public https URL (e.g. https://storelink.example.com).",
        )
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConnectorError(
            ErrorKind.NOT_CONFIGURED,
            f"STORELINK_APP_URL must be an https URL without a query ({url!r} is not): Shopify calls it "
            "from the internet.",
        )
    if not settings.shopify_api_key:
        raise ConnectorError(
            ErrorKind.NOT_CONFIGURED,
            "SHOPIFY_API_KEY is not set: set it to the app's client id (Shopify Dev Dashboard, the app's settings).",
        )
    scopes = [s.strip() for s in settings.shopify_app_scopes.split(",") if s.strip()]
    scopes += [scope for scope in TOPICS.values() if scope is not None and scope not in scopes]
    return AppConfig(name, settings.shopify_api_key, url, list(dict.fromkeys(scopes)), settings.shopify.api_version)
