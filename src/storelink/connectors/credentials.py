"""How to get each connector's credentials: one paragraph per connector, in the words the
live check (``storelink live-check``) and the dashboard's connector pages both show."""

from __future__ import annotations

__all__ = ["CREDENTIAL_HOW_TO"]

CREDENTIAL_HOW_TO: dict[str, str] = {
    "shopify": "Create a custom app in the Shopify admin (Settings → Apps → Develop apps), grant it the read "
    "scopes storelink uses, install it and copy the Admin API access token.",
    "ga4": "Give a Google service account Viewer access to the GA4 property, download its JSON key and point "
    "GOOGLE_APPLICATION_CREDENTIALS at it (or set the GOOGLE_CLIENT_ID/SECRET/REFRESH_TOKEN of an OAuth client).",
    "gsc": "Add the same Google identity as a user of the Search Console property; GSC_SITE_URL is the property "
    "exactly as Search Console spells it (`sc-domain:example.com` or `https://example.com/`).",
    "bing": "In Bing Webmaster Tools open Settings → API access and generate an API key.",
    "zoho": "Register a self-client in the Zoho API console for your data centre (ZOHO_DC) with the Mail read "
    "scopes, and exchange its grant code for a refresh token (`storelink auth zoho`).",
}
