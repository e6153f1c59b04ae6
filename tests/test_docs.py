"""Generated documentation must match the code it is generated from."""

from __future__ import annotations

from pathlib import Path

from storelink.cli.docgen import GENERATORS, render
from storelink.settings import describe_settings

ROOT = Path(__file__).resolve().parents[1]


def test_generated_sections_are_current() -> None:
    for name, (path, generate) in GENERATORS.items():
        text = (ROOT / path).read_text()
        assert render(text, name, generate()) == text, f"{path} is stale: run `make docs`"


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    missing = [row.env for row in describe_settings(None) if f"`{row.env}`" not in text]
    assert not missing
