"""The ``storelink`` command line's data commands: config, call, health, stores, fakes, rag,
insights, auth, audit, db, shopify. ``storelink.main`` adds the ones that serve (serve, mcp, mcp-login)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from storelink.cli import ops
from storelink.cli.audit import audit
from storelink.cli.auth import auth_app
from storelink.cli.common import StoreOption, cli_settings, store_runtime
from storelink.cli.db import db_app
from storelink.cli.docgen import configuration_table
from storelink.cli.insights import insights_app
from storelink.cli.output import Table, console, showing_progress
from storelink.cli.rag import rag_app
from storelink.cli.shopify_app import shopify_app
from storelink.cli.stores import stores_app
from storelink.errors import MAX_MESSAGE, ConfigurationError, ConnectorError, ErrorKind, clip
from storelink.settings import describe_settings

__all__ = ["app", "err", "out"]

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
app.add_typer(stores_app, name="stores")
app.add_typer(db_app, name="db")
app.add_typer(shopify_app, name="shopify")
ops.register(app)  # health, synthetic, soak, live-check
app.command("audit")(audit)

out = console()
WIDE_CONFIG = 140  # columns under which `storelink config` lists variables instead of a table
err = console(stderr=True)
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
    rows = describe_settings(cli_settings(data_dir=False))
    if as_json:
        print(json.dumps({r.env: r.value for r in rows}, indent=2))
        return
    if out.width < WIDE_CONFIG:  # a table this narrow would fold every name: one variable per paragraph
        for row in rows:
            changed = row.value != row.default and not (row.secret and not row.value)
            value = f"[bold]{escape(row.value)}[/bold]" if changed else escape(row.value)
            out.print(f"[cyan]{row.env}[/cyan]={value}", highlight=False)
            default = f"default {row.default}" if row.default else "unset by default"
            out.print(Padding(Text(f"{row.description} ({default})", style="dim"), (0, 0, 0, 4)))
        return
    table = Table("variable", "value", "default", "what it does")
    for row in rows:
        changed = row.value != row.default and not (row.secret and not row.value)
        value = f"[bold]{escape(row.value)}[/bold]" if changed else escape(row.value)
        table.add_row(row.env, value, escape(row.default), escape(row.description))
    out.print(table)


@app.command()
def call(
    connector: Annotated[str, typer.Argument(help="Connector name, e.g. shopify.")],
    operation: Annotated[str, typer.Argument(help="Operation name, e.g. list_products.")],
    param: Annotated[list[str] | None, typer.Option("-p", "--param", help="key=value (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the envelope as JSON.")] = False,
    store: StoreOption = None,
) -> None:
    """Call one operation and print its envelope (data and meta), or the error envelope."""
    params = dict(parse_param(p) for p in param or [])
    settings = cli_settings()

    async def run() -> dict[str, Any]:
        async with store_runtime(settings, store) as rt:
            envelope = await rt.registry.get(connector).call(operation, params)
            return envelope.model_dump(mode="json")

    try:
        with showing_progress(err, f"{connector}.{operation}"):
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
