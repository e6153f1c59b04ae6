"""``storelink shopify``: storelink as a Shopify app (docs/shopify-app.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from storelink.cli.common import cli_settings
from storelink.cli.output import console
from storelink.errors import ConnectorError
from storelink.shopify_app.app_config import app_config

__all__ = ["shopify_app"]

shopify_app = typer.Typer(help="storelink as a Shopify app: install, embedded admin, webhooks.", no_args_is_help=True)
out = console()
err = console(stderr=True)


@shopify_app.command("app-config")
def app_config_command(
    path: Annotated[Path, typer.Option("--out", "-o", help="Where to write it ('-': print it).")] = Path(
        "shopify.app.toml"
    ),
    name: Annotated[str, typer.Option(help="The app's name in Shopify admin.")] = "storelink",
) -> None:
    """Write the shopify.app.toml for this deployment (STORELINK_APP_URL): URLs, scopes, webhooks."""
    settings = cli_settings(data_dir=False)
    try:
        text = app_config(settings, name=name).toml()
    except ConnectorError as exc:
        err.print(exc.message, soft_wrap=True, highlight=False, markup=False)
        raise typer.Exit(2) from None
    if str(path) == "-":
        print(text, end="")
        return
    path.write_text(text, encoding="utf-8")
    out.print(
        f"Wrote {path} for {settings.app_url}; deploy it with `shopify app deploy`.", highlight=False, markup=False
    )
