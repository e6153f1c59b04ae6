"""What every command shares: reading the settings once, with a clear message when they are wrong
(or when the data directory cannot be written), and reaching the store a command is for
(``--store``)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from storelink.access import EVERY_STORE
from storelink.observability.logs import configure_logging
from storelink.runtime import Runtime, open_fleet
from storelink.settings import Settings, env_name, load_settings

__all__ = ["StoreOption", "cli_settings", "data_dir_problem", "store_runtime"]

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="The store (`storelink stores list` shows them); omit when there is one."),
]

_err = Console(stderr=True)


def data_dir_problem(path: Path) -> str | None:
    """Why storelink cannot keep its data in ``path`` (one line naming it), or None when it can:
    created if missing, and a file can be written in it."""
    shown = path if path.is_absolute() else f"{path} (that is {Path.cwd() / path})"
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return (
            f"storelink cannot write its data directory {shown}: {reason}. "
            "Set STORELINK_DATA_DIR to a directory you can write (an absolute path)."
        )
    return None


def cli_settings(*, data_dir: bool = True) -> Settings:
    """Load the settings (environment and ``.env`` files) and set up logging; exit 2 naming each
    problem. With ``data_dir`` (every command that opens the embedded store), exit 2 with one line
    naming the data directory when it cannot be written, rather than a traceback later."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        _err.print(f"[red]Invalid configuration:[/red] {exc.error_count()} problem(s)")
        for problem in exc.errors(include_url=False, include_input=False):
            _err.print(f"  {env_name(problem['loc'])}: {escape(problem['msg'])}", soft_wrap=True)
        raise typer.Exit(2) from None
    except FileNotFoundError as exc:
        _err.print(f"[red]Invalid configuration:[/red] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    configure_logging(settings)
    if data_dir and (unwritable := data_dir_problem(settings.data_dir)) is not None:
        _err.print(escape(unwritable), soft_wrap=True, highlight=False)
        raise typer.Exit(2)
    return settings


@asynccontextmanager
async def store_runtime(settings: Settings, store: str | None) -> AsyncIterator[Runtime]:
    """The runtime of ``store`` (the only store when None); only that store's connectors are built.
    The command line is the operator's: it reaches every store."""
    async with open_fleet(settings) as fleet:
        yield await fleet.runtime(EVERY_STORE.choose(fleet.ids(), store))
