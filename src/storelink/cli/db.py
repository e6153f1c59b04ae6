"""``storelink db``: the PostgreSQL schema (``STORELINK_DATABASE_URL``): apply migrations, show state,
and the keys that seal tokens kept there (``STORELINK_SECRET_KEY``): make one, reseal with the newest.

Migrations also run at start (``serve``, ``mcp``), so ``migrate`` is for operators who apply them
first, from one place, before rolling replicas; both are safe to repeat and to run at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated

import typer

from storelink.cli.common import cli_settings
from storelink.cli.output import Table, console
from storelink.database.keyring import Keyring, new_key
from storelink.database.postgres import Database, DatabaseStatus
from storelink.database.tokens import TokenVault
from storelink.errors import ConnectorError
from storelink.settings import Settings

__all__ = ["db_app"]

db_app = typer.Typer(
    help="PostgreSQL, where replicas keep what they share (STORELINK_DATABASE_URL).", no_args_is_help=True
)
out = console()
err = console(stderr=True)


def _database(settings: Settings) -> Database:
    # One line says the database did not answer; the pool's own retries would repeat it per attempt.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    if settings.database_url is None:
        err.print(
            "STORELINK_DATABASE_URL is not set: storelink keeps its audit log in the embedded SQLite store "
            f"({settings.data_dir / 'storelink.db'}), which needs no migrations. Set it to "
            "postgresql://user:password@host:5432/database to share one with every replica.",
            soft_wrap=True,
        )
        raise typer.Exit(2)
    return Database(settings.database_url.get_secret_value(), schema=settings.database_schema)


async def _migrate(database: Database) -> list[str]:
    await database.open()
    try:
        return await database.migrate()
    finally:
        await database.close()


async def _status(database: Database) -> DatabaseStatus:
    await database.open()
    try:
        return await database.status()
    finally:
        await database.close()


@db_app.command("migrate")
def migrate() -> None:
    """Apply every migration not yet applied to the schema (STORELINK_DATABASE_SCHEMA)."""
    settings = cli_settings(data_dir=False)
    database = _database(settings)
    try:
        applied = asyncio.run(_migrate(database))
    except ConnectorError as exc:
        err.print(f"[red]{exc.message}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    if applied:
        out.print(f"Schema {database.schema}: applied {', '.join(applied)}.", soft_wrap=True)
    else:
        out.print(f"Schema {database.schema}: up to date; nothing to apply.")


@db_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Whether PostgreSQL answers, the schema's version and the migrations still to apply."""
    settings = cli_settings(data_dir=False)
    found = asyncio.run(_status(_database(settings)))
    if as_json:
        print(
            json.dumps(
                {
                    "reachable": found.reachable,
                    "schema": found.schema,
                    "version": found.version,
                    "latest": found.latest,
                    "pending": found.pending,
                    "error": found.error,
                }
            )
        )
    else:
        table = Table("reachable", "schema", "version", "latest", "pending")
        table.add_row(
            "yes" if found.reachable else "[red]no[/red]",
            found.schema,
            "-" if found.version is None else str(found.version),
            str(found.latest),
            ", ".join(found.pending) or "-" if found.reachable else "?",
        )
        out.print(table)
        if found.error:
            err.print(found.error, soft_wrap=True)
        elif found.pending:
            err.print("Run `storelink db migrate` (or start storelink: it migrates at start).")
    if not found.ready:
        raise typer.Exit(1)


@db_app.command("new-key")
def new_key_command() -> None:
    """Print a new key for STORELINK_SECRET_KEY (to rotate: put it first, keep the old one after it,
    run `storelink db rotate-key`, then drop the old one)."""
    print(new_key())


async def _reseal(database: Database, keyring: Keyring) -> int:
    await database.open()
    try:
        return await TokenVault(database, keyring).reseal()
    finally:
        await database.close()


@db_app.command("rotate-key")
def rotate_key() -> None:
    """Seal every token kept in the database again with the first key of STORELINK_SECRET_KEY."""
    settings = cli_settings(data_dir=False)
    database = _database(settings)
    if settings.secret_key is None:
        err.print("STORELINK_SECRET_KEY is not set: list the new key first and the old one after it.")
        raise typer.Exit(2)
    try:
        count = asyncio.run(_reseal(database, Keyring(settings.secret_key)))
    except ConnectorError as exc:
        err.print(f"[red]{exc.message}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    out.print(f"Resealed {count} token row(s) with the first key; the other keys may now be dropped.")
