"""Zoho data centres: ``ZOHO_DC`` picks both the accounts (OAuth) host and the Mail API host.

A Zoho account lives in one data centre, and its OAuth client, refresh token and mailbox only
work there: a refresh token minted at accounts.zoho.eu means nothing to accounts.zoho.com
(api-facts.md §5.1). ``STORELINK_ZOHO_ACCOUNTS_URL`` overrides the accounts host (tests, proxies);
``STORELINK_ZOHO_BASE_URL`` the Mail host.
"""

from __future__ import annotations

from dataclasses import dataclass

from storelink.errors import ConfigurationError

__all__ = ["DATA_CENTRES", "DataCentre", "data_centre"]


@dataclass(frozen=True, slots=True)
class DataCentre:
    code: str
    accounts_url: str
    mail_url: str

    @property
    def console_url(self) -> str:
        """Where OAuth clients are registered: api-console on the accounts domain [INF for ca/sa]."""
        return self.accounts_url.replace("://accounts.", "://api-console.")


DATA_CENTRES: dict[str, DataCentre] = {
    dc.code: dc
    for dc in (
        DataCentre("com", "https://accounts.zoho.com", "https://mail.zoho.com"),
        DataCentre("eu", "https://accounts.zoho.eu", "https://mail.zoho.eu"),
        DataCentre("in", "https://accounts.zoho.in", "https://mail.zoho.in"),
        DataCentre("com.au", "https://accounts.zoho.com.au", "https://mail.zoho.com.au"),
        DataCentre("jp", "https://accounts.zoho.jp", "https://mail.zoho.jp"),
        DataCentre("ca", "https://accounts.zohocloud.ca", "https://mail.zohocloud.ca"),  # accounts host [INF]
        DataCentre("com.cn", "https://accounts.zoho.com.cn", "https://mail.zoho.com.cn"),
        DataCentre("sa", "https://accounts.zoho.sa", "https://mail.zoho.sa"),  # [3P]
        # United Kingdom and United Arab Emirates: accounts.zoho.uk (Zoho Assist, ManageEngine multi-DC
        # pages), zoho.ae (WorkDrive's multi-DC page); mail.<domain> by the pattern of the others [INF].
        DataCentre("uk", "https://accounts.zoho.uk", "https://mail.zoho.uk"),
        DataCentre("ae", "https://accounts.zoho.ae", "https://mail.zoho.ae"),
    )
}

# What people type for the same places.
_ALIASES = {"us": "com", "au": "com.au", "cn": "com.cn", "zohocloud.ca": "ca", "gb": "uk", "uae": "ae"}


def data_centre(code: str) -> DataCentre:
    """The data centre for ``ZOHO_DC`` (case and a leading dot ignored; ``us``/``au``/``cn`` accepted)."""
    key = code.strip().lower().lstrip(".")
    found = DATA_CENTRES.get(_ALIASES.get(key, key))
    if found is None:
        raise ConfigurationError(
            f"ZOHO_DC={code!r} is not a Zoho data centre; use one of {', '.join(DATA_CENTRES)} "
            "(the domain suffix of the Zoho site you sign in to, e.g. `eu` for zoho.eu)."
        )
    return found
