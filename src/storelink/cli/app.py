"""The ``storelink`` command line: config, call, health, fakes, serve."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from storelink.cli import ops
from storelink.cli.audit import audit
from storelink.cli.auth import auth_app
from storelink.cli.common import cli_settings
from storelink.cli.docgen import configuration_table
from storelink.cli.insights import insights_app
from storelink.cli.rag import rag_app
from storelink.errors import MAX_MESSAGE, ConfigurationError, ConnectorError, ErrorKind, clip
from storelink.runtime import open_runtime
from storelink.settings import describe_settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="storelink",
    help="One safe, fast, observable way into a store's business data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
fakes_app = typer.Typer(help="Faithful local fakes of every upstream.", no_args_is_help=True)
app.add_typer(fakes_app, name="fakes")
app.add_typer(auth_app, name="auth")
app.add_typer(rag_app, name="rag")
app.add_typer(insights_app, name="insights")
ops.register(app)  # health, synthetic, soak, live-check
app.command("audit")(audit)

out = Console()
err = Console(stderr=True)
log = logging.getLogger("storelink.cli")


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it is JSON (numbers, booleans, lists), else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"{text!r} is not key=value", param_hint="-p/--param")
    try:
        return key, json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or JSON Python refuses (4,300+ digits, deep nesting)
        return key, raw


@app.command()
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the reference table (docs).")] = False,
) -> None:
    """Show the effective settings; every secret is masked."""
    if markdown:
        print(configuration_table())
        return
    rows = describe_settings(cli_settings())
    if as_json:
        print(json.dumps({r.env: r.value for r in rows}, indent=2))
        return
    table = Table("variable", "value", "default", "what it does")
    for row in rows:
        changed = row.value != row.default and not (row.secret and not row.value)
        value = f"[bold]{row.value}[/bold]" if changed else row.value
        table.add_row(row.env, value, row.default, row.description)
    out.print(table)


@app.command()
def call(
    connector: Annotated[str, typer.Argument(help="Connector name, e.g. shopify.")],
    operation: Annotated[str, typer.Argument(help="Operation name, e.g. list_products.")],
    param: Annotated[list[str] | None, typer.Option("-p", "--param", help="key=value (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the envelope as JSON.")] = False,
) -> None:
    """Call one operation and print its envelope (data and meta), or the error envelope."""
    params = dict(parse_param(p) for p in param or [])
    settings = cli_settings()

    async def run() -> dict[str, Any]:
        async with open_runtime(settings) as rt:
            envelope = await rt.registry.get(connector).call(operation, params)
            return envelope.model_dump(mode="json")

    try:
        result = asyncio.run(run())
    except ConnectorError as exc:
        exc.message = clip(exc.message, MAX_MESSAGE)  # some repeat what was typed, e.g. the operation's name
        body = exc.envelope().model_dump(mode="json")
        if as_json:
            print(json.dumps(body, indent=2))
        else:
            err.print(f"[red]{exc.kind.value}[/red]: {exc.message}")
        raise typer.Exit(2 if exc.kind is ErrorKind.INVALID_REQUEST else 1) from None
    except ConfigurationError as exc:
        err.print(f"[red]configuration[/red]: {exc}")
        raise typer.Exit(2) from None
    except Exception as exc:  # a bug: one line, not a traceback (its text may hold anything)
        log.debug("storelink call %s %s failed unexpectedly", connector, operation, exc_info=True)
        message = (
            f"{clip(connector)}.{clip(operation)} failed on an unexpected error ({type(exc).__name__}): a bug in "
            "storelink. STORELINK_LOG_LEVEL=DEBUG shows the traceback."
        )
        if as_json:
            print(json.dumps({"error": {"kind": "internal_error", "message": message}}, indent=2))
        else:
            err.print(f"[red]internal_error[/red]: {message}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    out.print_json(data=result["data"])
    meta = result["meta"]
    err.print(
        f"[dim]{meta['connector']}.{meta['operation']} · {meta['mode']} · {meta['source']} · "
        f"{meta['attempts']} attempt(s) · {meta['latency_ms']:.0f} ms[/dim]"
    )


@fakes_app.command("serve")
def fakes_serve(
    names: Annotated[list[str] | None, typer.Argument(help="Fakes to serve (default: all).")] = None,
    port_base: Annotated[int, typer.Option(help="First port; each fake takes the next.")] = 9100,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
) -> None:
    """Serve fakes on loopback, one port each, and print their URLs."""
    from storelink.cli.fakes_serve import build_servers, serve_fakes

    settings = cli_settings()
    try:
        served, servers = build_servers(settings, list(names or []), host=host, port_base=port_base)
    except ValueError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    for s in served:
        print(f"{s.name}\t{s.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_fakes(servers))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (STORELINK_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (STORELINK_PORT).")] = None,
) -> None:
    """Serve the app: MCP at /mcp, /healthz, /readyz, /metrics, /app/metrics.json."""
    import uvicorn

    from storelink.web.app import create_app

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
    from storelink.connectors.registry import builtin_connectors
    from storelink.mcp_server.server import build_server

    settings = cli_settings()  # logs go to stderr: stdout carries the protocol

    async def run() -> None:
        async with open_runtime(settings) as runtime, runtime.warming_up():
            server = build_server(settings, lambda: runtime, builtin_connectors())
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
