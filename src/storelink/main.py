"""The ``storelink`` command and the process it serves: the data commands of ``storelink.cli``,
plus the ones that serve the web pages and the MCP server side by side (``serve``, ``mcp``,
``mcp-login``). The CLI, the pages and the MCP server each stand on the runtime; only this module
knows all three."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from typing import Annotated

import typer
from starlette.applications import Starlette

from storelink.cli.app import app, err
from storelink.cli.common import cli_settings
from storelink.connectors.base import Connector
from storelink.connectors.registry import builtin_connectors
from storelink.errors import ConfigurationError, ConnectorError
from storelink.mcp_server.http import mcp_endpoint
from storelink.runtime import StoreDirectory, open_fleet
from storelink.settings import Settings, env_files
from storelink.shopify_app.routes import ShopifyAppExtension
from storelink.web.app import Endpoint, EndpointFactory, FleetFactory, RuntimeFactory
from storelink.web.app import create_app as create_web_app

__all__ = ["app", "create_app", "main"]


def create_app(
    settings: Settings,
    *,
    fleet_factory: FleetFactory = open_fleet,
    runtime_factory: RuntimeFactory | None = None,
    connector_classes: Sequence[type[Connector]] | None = None,
    host: str | None = None,
    port: int | None = None,
    history_interval_s: float | None = None,
    health_interval_s: float | None = None,
) -> Starlette:
    """The one app ``storelink serve`` runs: the pages, health, metrics, the Shopify app's routes
    with STORELINK_APP_URL, and, unless ENABLE_MCP=false, MCP at /mcp."""
    host = host or settings.host
    port = port or settings.port
    endpoint: EndpointFactory | None = None
    if settings.enable_mcp:
        classes = connector_classes if connector_classes is not None else builtin_connectors()

        def endpoint(get_stores: Callable[[], StoreDirectory]) -> Endpoint:
            return mcp_endpoint(settings, get_stores, classes, host=host, port=port)

    # storelink as a Shopify app (install, embedded page, webhooks): only with STORELINK_APP_URL.
    extensions = [ShopifyAppExtension(settings)] if settings.app_url else []
    return create_web_app(
        settings,
        fleet_factory=fleet_factory,
        runtime_factory=runtime_factory,
        endpoint=endpoint,
        extensions=extensions,
        host=host,
        history_interval_s=history_interval_s,
        health_interval_s=health_interval_s,
    )


def where_from(settings: Settings) -> str:
    """One line: the data directory and the settings files read (absolute paths)."""
    files = ", ".join(str(f.resolve()) for f in env_files()) or "no .env file"
    return f"data in {settings.data_dir.resolve()}; settings from the environment and {files}"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (STORELINK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (STORELINK_PORT).")] = None,
) -> None:
    """Serve the app: MCP at /mcp, /healthz, /readyz, /metrics, /app/metrics.json."""
    import uvicorn

    settings = cli_settings()
    host = host or settings.host
    port = port or settings.port
    try:
        application = create_app(settings, host=host, port=port)
    except ConfigurationError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    mcp_note = f", MCP: http://{host}:{port}/mcp" if settings.enable_mcp else ""
    err.print(f"storelink serving on http://{host}:{port} (metrics: /metrics, /app/metrics.json{mcp_note})")
    err.print(where_from(settings), soft_wrap=True, highlight=False, markup=False)
    # Live-update streams close by themselves; don't let them hold a shutdown for long.
    # proxy_headers=False: uvicorn would otherwise put a loopback peer's X-Forwarded-For in its place
    # before the app sees it; the pages believe forwarding headers only from STORELINK_TRUSTED_PROXIES.
    uvicorn.run(
        application,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=5,
        proxy_headers=False,
    )


@app.command("mcp")
def mcp_stdio() -> None:
    """Serve MCP over stdio, for desktop clients (Claude Desktop, Claude Code, Cursor)."""

    from storelink.mcp_server.server import build_server

    settings = cli_settings()  # logs go to stderr: stdout carries the protocol
    # A desktop client starts this wherever it likes and shows stderr only in its log: say once
    # where the data and the settings came from, so a missed .env is not silent.
    err.print(f"storelink mcp: {where_from(settings)}", soft_wrap=True, highlight=False, markup=False)

    async def run() -> None:
        async with open_fleet(settings) as fleet:
            first = await fleet.runtime(fleet.ids()[0])
            async with first.warming_up():
                server = build_server(settings, lambda: fleet, builtin_connectors())
                await server.run_stdio_async()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@app.command("mcp-login")
def mcp_login(
    client_id: Annotated[str | None, typer.Option(help="OAuth client id (MCP_CLIENT_ID).")] = None,
    scope: Annotated[str, typer.Option(help="Scopes to ask for.")] = "storelink:read",
) -> None:
    """Mint MCP client credentials: authorization code + PKCE with a loopback redirect.

    Prints the refresh token once and keeps it in the embedded store; set MCP_CLIENT_ID and
    MCP_REFRESH_TOKEN from it."""
    import webbrowser

    from storelink.mcp_server.client import TokenStore, login
    from storelink.store import EmbeddedStore

    settings = cli_settings()
    client = client_id or settings.mcp_client_id
    if not settings.mcp_api_url or not client:
        err.print("[red]Set MCP_API_URL (the MCP endpoint) and MCP_CLIENT_ID (or --client-id) first.[/red]")
        raise typer.Exit(2)
    url = settings.mcp_api_url

    async def show(address: str) -> None:
        err.print(f"Open this address to approve storelink:\n  {address}")
        webbrowser.open(address)

    try:
        refresh_token = asyncio.run(login(url, client, open_url=show, scope=scope))
    except (ConnectorError, TimeoutError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    store = EmbeddedStore.in_data_dir(settings.data_dir)
    TokenStore(store).save(url, client, refresh_token)
    store.close()
    print(f"MCP_CLIENT_ID={client}")
    print(f"MCP_REFRESH_TOKEN={refresh_token}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # python -m storelink.main
    main()
