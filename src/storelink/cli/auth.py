"""``storelink auth …``: mint the long-lived credentials connectors need, once, by hand.

``storelink auth google`` runs Google's installed-app flow with a loopback redirect
(:mod:`storelink.auth.installed_app`) for the OAuth client in ``GOOGLE_CLIENT_ID`` /
``GOOGLE_CLIENT_SECRET`` (a "Desktop app" client) and prints the refresh token once, as
``GOOGLE_REFRESH_TOKEN=…``, for the operator to store. The token is never logged or written
anywhere else. Wire with ``app.add_typer(auth_app, name="auth")``.
"""

from __future__ import annotations

import asyncio
import webbrowser
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from storelink.auth.google import ANALYTICS_READONLY, WEBMASTERS_READONLY
from storelink.auth.installed_app import AUTH_URL, InstalledAppError, run_installed_app_flow
from storelink.cli.auth_zoho import zoho
from storelink.settings import Settings, load_settings

__all__ = ["auth_app", "consent_url_for", "google", "zoho"]

auth_app = typer.Typer(help="Mint the credentials connectors need (OAuth refresh tokens).", no_args_is_help=True)
err = Console(stderr=True)


@auth_app.callback()
def _group() -> None:
    """Mint the credentials connectors need (OAuth refresh tokens)."""


DEFAULT_SCOPES = (ANALYTICS_READONLY, WEBMASTERS_READONLY)
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105  (a URL, not a secret)


def consent_url_for(token_url: str) -> str:
    """Google's consent page; for any other token endpoint (a fake on loopback) the same host's
    ``/o/oauth2/v2/auth``, so the command can be rehearsed end to end against the fakes."""
    if token_url.rstrip("/") == GOOGLE_TOKEN_URL:
        return AUTH_URL
    scheme, _, rest = token_url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/o/oauth2/v2/auth"


def _load() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        err.print(f"[red]Invalid configuration:[/red] {exc.error_count()} problem(s); run `storelink config`.")
        raise typer.Exit(2) from None


@auth_app.command("google")
def google(
    client_id: Annotated[
        str | None, typer.Option(help="OAuth client id (a 'Desktop app' client); default GOOGLE_CLIENT_ID.")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", help="Scope to request (repeatable); default analytics.readonly + webmasters.readonly."
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="Loopback port for the redirect (0: any free port).")] = 0,
    no_browser: Annotated[bool, typer.Option("--no-browser", help="Only print the URL to open.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the redirect.")] = 300.0,
) -> None:
    """Sign in with Google in a browser and print a refresh token for GA4 and Search Console.

    Needs GOOGLE_CLIENT_SECRET in the environment (never on the command line). Store the printed
    value as GOOGLE_REFRESH_TOKEN; see docs/connectors/ga4.md."""
    settings = _load()
    client = client_id or settings.google_client_id
    secret = settings.google_client_secret
    if not client or secret is None or not secret.get_secret_value():
        err.print(
            "[red]Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET[/red] to an OAuth client of type "
            "'Desktop app' (Cloud console → APIs & Services → Credentials), then run this again."
        )
        raise typer.Exit(2)
    scopes = tuple(scope or DEFAULT_SCOPES)

    async def open_browser(url: str) -> None:
        err.print("Open this URL in a browser on this machine and allow access:\n")
        err.print(url, soft_wrap=True, markup=False, highlight=False)
        err.print("\nWaiting for Google to redirect back to storelink…")
        if not no_browser:
            webbrowser.open(url)

    try:
        result = asyncio.run(
            run_installed_app_flow(
                client_id=client,
                client_secret=secret,
                scopes=scopes,
                token_url=settings.google_token_url,
                auth_url=consent_url_for(settings.google_token_url),
                open_browser=open_browser,
                port=port,
                timeout_s=timeout,
            )
        )
    except InstalledAppError as exc:
        err.print(f"[red]No refresh token:[/red] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    err.print(f"\nGranted scopes: {result.scope or ' '.join(scopes)}")
    err.print("Store this value as GOOGLE_REFRESH_TOKEN (it is shown once and saved nowhere):\n")
    print(f"GOOGLE_REFRESH_TOKEN={result.refresh_token.get_secret_value()}", flush=True)


# Zoho's grant-code exchange, per data centre: storelink/cli/auth_zoho.py.
auth_app.command("zoho")(zoho)
