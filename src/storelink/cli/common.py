"""What every command shares: reading the settings once, with a clear message when they are wrong,
and reaching the store a command is for (``--store``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from storelink.access import EVERY_STORE
from storelink.observability.logs import configure_logging
from storelink.runtime import Runtime, open_fleet
from storelink.settings import Settings, env_name, load_settings

__all__ = ["StoreOption", "cli_settings", "store_runtime"]

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="The store (`storelink stores list` shows them); omit when there is one."),
]

_err = Console(stderr=True)


def cli_settings() -> Settings:
    """Load the settings (environment and ``.env``) and set up logging; exit 2 naming each problem."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        _err.print(f"[red]Invalid configuration:[/red] {exc.error_count()} problem(s)")
        for problem in exc.errors(include_url=False, include_input=False):
            _err.print(f"  {env_name(problem['loc'])}: {escape(problem['msg'])}")
        raise typer.Exit(2) from None
    configure_logging(settings)
    return settings


@asynccontextmanager
async def store_runtime(settings: Settings, store: str | None) -> AsyncIterator[Runtime]:
    """The runtime of ``store`` (the only store when None); only that store's connectors are built.
    The command line is the operator's: it reaches every store."""
    async with open_fleet(settings) as fleet:
        yield await fleet.runtime(EVERY_STORE.choose(fleet.ids(), store))
