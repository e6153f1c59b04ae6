"""What every command shares: reading the settings once, with a clear message when they are wrong."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from storelink.observability.logs import configure_logging
from storelink.settings import Settings, env_name, load_settings

__all__ = ["cli_settings"]

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
