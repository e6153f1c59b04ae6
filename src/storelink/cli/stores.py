"""``storelink stores``: the stores this deployment serves, and each connector's mode in each."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from storelink.cli.common import cli_settings
from storelink.cli.output import Table, console
from storelink.connectors.registry import builtin_connectors
from storelink.errors import ConfigurationError
from storelink.runtime import decide_mode
from storelink.settings import Settings
from storelink.stores import StoreConfig
from storelink.stores_file import configured_stores

__all__ = ["store_rows", "stores_app"]

stores_app = typer.Typer(help="The stores this deployment serves.", no_args_is_help=True)
out = console()
err = console(stderr=True)


def store_rows(settings: Settings, stores: list[StoreConfig]) -> list[dict[str, Any]]:
    """Per store: id, name and each connector's mode (and what live mode lacks), decided as the
    runtime would decide it, without building a connector."""
    rows: list[dict[str, Any]] = []
    for store in stores:
        connectors: dict[str, Any] = {}
        for cls in builtin_connectors():
            mode, missing = decide_mode(cls, store.connector(cls.name), force_mocks=settings.mcp_force_mocks)
            connectors[cls.name] = {"mode": mode, "missing": missing if mode != "disabled" else []}
        rows.append({"id": store.id, "name": store.name, "connectors": connectors})
    return rows


@stores_app.command("list")
def list_stores(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Each store with each connector's mode: live, mock (and what live mode lacks) or disabled."""
    settings = cli_settings()
    try:
        stores = configured_stores(settings)
    except ConfigurationError as exc:
        err.print(f"[red]configuration[/red]: {exc}", highlight=False)
        raise typer.Exit(2) from None
    rows = store_rows(settings, stores)
    if as_json:
        print(json.dumps({"stores": rows}, indent=2))
        return
    names = [cls.name for cls in builtin_connectors()]
    table = Table("store", "name", *names, title=f"{len(rows)} store(s)")
    colour = {"live": "green", "mock": "yellow", "disabled": "dim"}
    for row in rows:
        modes = [row["connectors"][n]["mode"] for n in names]
        table.add_row(row["id"], row["name"], *(f"[{colour[m]}]{m}[/{colour[m]}]" for m in modes))
    out.print(table)
    lacking = {(n, m) for row in rows for n in names for m in row["connectors"][n]["missing"]}
    demo_only = settings.mcp_force_mocks or (settings.stores_file is None and settings.demo_stores > 1)
    if lacking and not demo_only:
        err.print("[dim]mock: live mode lacks " + "; ".join(sorted(f"{n}: {m}" for n, m in lacking)) + "[/dim]")
