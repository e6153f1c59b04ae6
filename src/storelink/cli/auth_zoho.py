"""``storelink auth zoho``: mint the refresh token the Zoho Mail connector needs.

Registered on the ``auth`` sub-app in :mod:`storelink.cli.auth`. Without ``--code`` it prints
the steps for the configured data centre; with ``--code`` it trades the grant code for tokens at
that data centre's accounts server and prints ``ZOHO_REFRESH_TOKEN=…`` once, for the operator to
store. Nothing is written anywhere else.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx2
import typer
from pydantic import ValidationError
from rich.console import Console

from storelink.connectors.zoho.auth import MAIL_SCOPES, GrantResult, authorization_url, exchange_grant_code
from storelink.connectors.zoho.dc import data_centre
from storelink.errors import ConfigurationError, ConnectorError
from storelink.settings import Settings, load_settings

__all__ = ["mint_refresh_token", "zoho", "zoho_instructions"]

READ_SCOPES = tuple(s for s in MAIL_SCOPES if not s.endswith(".CREATE"))


def _accounts_url(settings: Settings) -> str:
    return (settings.zoho_accounts_url or data_centre(settings.zoho_dc).accounts_url).rstrip("/")


def zoho_instructions(settings: Settings, *, scopes: tuple[str, ...], redirect_uri: str | None = None) -> str:
    """The steps, with this data centre's hosts and the exact scopes."""
    dc = data_centre(settings.zoho_dc)
    accounts = _accounts_url(settings)
    scope = ",".join(scopes)
    lines = [
        f"Zoho data centre: {dc.code} (ZOHO_DC). Accounts server: {accounts}",
        "",
        "1. Register a client where your Zoho account lives:",
        f"   {dc.console_url}  ->  Add Client  ->  Self Client  ->  Create.",
        "   Set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET to the Client ID and Client Secret it shows.",
        "2. In the same client, tab 'Generate Code', enter:",
        f"   Scope:          {scope}",
        "   Time Duration:  10 minutes",
        "   Description:    storelink",
        "   and copy the code it gives you.",
        "3. Within those minutes run:",
        "   storelink auth zoho --code <the code>",
        "   and put the ZOHO_REFRESH_TOKEN it prints in your environment or .env.",
    ]
    if redirect_uri and settings.zoho_client_id:
        url = authorization_url(accounts, client_id=settings.zoho_client_id, redirect_uri=redirect_uri, scopes=scopes)
        lines += [
            "",
            "Server-based client instead: open this URL, consent, and pass the `code` from the redirect",
            "with --code and the same --redirect-uri:",
            f"   {url}",
        ]
    return "\n".join(lines)


async def mint_refresh_token(
    settings: Settings,
    *,
    code: str,
    redirect_uri: str | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
) -> GrantResult:
    """Trade a grant code for tokens at the configured data centre (``transport``: tests)."""
    if not settings.zoho_client_id or not settings.zoho_client_secret:
        raise ConfigurationError("Set ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET first (step 1 of `storelink auth zoho`).")
    async with httpx2.AsyncClient(transport=transport, timeout=settings.zoho.timeout) as client:
        return await exchange_grant_code(
            client,
            accounts_url=_accounts_url(settings),
            client_id=settings.zoho_client_id,
            client_secret=settings.zoho_client_secret,
            code=code,
            dc=data_centre(settings.zoho_dc).code,
            redirect_uri=redirect_uri,
        )


def zoho(
    code: Annotated[
        str | None, typer.Option("--code", help="Grant code from the Self Client (or the redirect).")
    ] = None,
    redirect_uri: Annotated[
        str | None, typer.Option("--redirect-uri", help="For a server-based client: its redirect URI.")
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Ask for read scopes only (send_message will be refused).")
    ] = False,
) -> None:
    """Mint a Zoho Mail refresh token for ZOHO_REFRESH_TOKEN, in the ZOHO_DC data centre."""
    out, err = Console(), Console(stderr=True)
    try:
        settings = load_settings()
        scopes = READ_SCOPES if read_only else MAIL_SCOPES
        if code is None:
            out.print(zoho_instructions(settings, scopes=scopes, redirect_uri=redirect_uri), highlight=False)
            return
        result = asyncio.run(mint_refresh_token(settings, code=code, redirect_uri=redirect_uri))
    except ValidationError as exc:
        err.print(f"[red]Invalid configuration:[/red] {exc.error_count()} problem(s); see `storelink config`.")
        raise typer.Exit(2) from None
    except ConfigurationError as exc:
        err.print(f"[red]configuration[/red]: {exc}")
        raise typer.Exit(2) from None
    except ConnectorError as exc:
        err.print(f"[red]{exc.kind.value}[/red]: {exc.message}")
        raise typer.Exit(1) from None
    err.print(
        f"Refresh token minted at {_accounts_url(settings)}"
        + (f" (scopes: {result.scope})" if result.scope else "")
        + ". It is a secret and does not expire until revoked; store it, for example in .env:"
    )
    print(f"ZOHO_REFRESH_TOKEN={result.refresh_token.get_secret_value()}")
