"""What the command line prints at 80 columns and into a pipe: names a user must copy (variables,
SKUs) are never cut with an ellipsis, titles never show Python reprs, a misspelt parameter gets a
suggestion and a bad date names its format."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from storelink.cli import app as app_module
from storelink.cli import insights as insights_module
from storelink.cli import ops as ops_module
from storelink.cli.output import Table, console, showing_progress
from storelink.connectors.progress import report_progress
from storelink.main import app

runner = CliRunner()
NAMES = ("SHOPIFY_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "STORELINK_DATA_DIR", "ZOHO_REFRESH_TOKEN")


@pytest.fixture(autouse=True)
def mock_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def terminal_80(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """Every command's console as an 80-column terminal, writing to one buffer."""
    buffer = io.StringIO()
    narrow = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    for module in (app_module, ops_module, insights_module):
        monkeypatch.setattr(module, "out", narrow)
    return buffer


def whole(text: str, name: str) -> bool:
    return re.search(rf"(?<![A-Z_]){name}(?![A-Z_])", text) is not None


def test_health_at_80_columns_keeps_every_variable_whole(terminal_80: io.StringIO) -> None:
    runner.invoke(app, ["health"])
    text = terminal_80.getvalue()
    assert not re.search(r"\w…", text)  # a cell cut short (a description may say "`demo-1`…")
    for name in ("SHOPIFY_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "ZOHO_REFRESH_TOKEN"):
        assert whole(text, name), name
    assert "site knowledge: nothing ingested yet" in text


def test_config_at_80_columns_lists_whole_names(terminal_80: io.StringIO) -> None:
    runner.invoke(app, ["config"])
    text = terminal_80.getvalue()
    assert not re.search(r"\w…", text)  # a cell cut short (a description may say "`demo-1`…")
    assert all(whole(text, name) for name in NAMES)
    assert max(len(line) for line in text.splitlines()) <= 80


def test_piped_output_is_wide_and_never_ellipsized() -> None:
    piped = console()  # pytest's stdout is not a terminal
    assert piped.width >= 200
    table = Table("variable", "what it does")
    table.add_row("STORELINK_SHOPIFY_BREAKER_HALF_OPEN_CALLS", "x " * 200)
    narrow = Console(file=io.StringIO(), width=40)
    narrow.print(table)
    assert "…" not in narrow.file.getvalue()  # type: ignore[attr-defined]
    result = runner.invoke(app, ["health"])
    for name in ("SHOPIFY_ACCESS_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS"):
        assert whole(result.stdout, name), name


def test_insights_titles_are_dates_and_words_not_reprs(terminal_80: io.StringIO) -> None:
    runner.invoke(app, ["insights", "seo", "--limit", "2"])
    runner.invoke(app, ["insights", "inventory", "--limit", "2"])
    text = terminal_80.getvalue()
    assert "datetime.date(" not in text and "{'" not in text
    assert re.search(r"\d{4}-\d{2}-\d{2} – \d{4}-\d{2}-\d{2}", text)
    assert "striking distance" in text


def test_a_misspelt_parameter_is_given_the_valid_ones_and_a_guess() -> None:
    result = runner.invoke(app, ["call", "shopify", "sales_summary", "-p", "dayz=3"])
    assert result.exit_code == 2
    assert "did you mean 'days'?" in result.stderr and "valid: days, start, end" in result.stderr


def test_a_date_in_words_is_told_the_format() -> None:
    result = runner.invoke(app, ["call", "shopify", "list_orders", "-p", "created_from=yesterday"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.stderr


def test_a_call_shows_its_progress_on_a_terminal_and_nothing_in_a_pipe() -> None:
    async def paging() -> None:
        await report_progress(284, None, "orders: page 2, 284 read")

    terminal = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    with showing_progress(terminal, "shopify.sales_summary"):
        asyncio.run(paging())
    assert "shopify.sales_summary: orders: page 2, 284 read" in terminal.file.getvalue()  # type: ignore[attr-defined]
    pipe = Console(file=io.StringIO(), width=100)
    with showing_progress(pipe, "shopify.sales_summary"):
        asyncio.run(paging())
    assert pipe.file.getvalue() == ""  # type: ignore[attr-defined]
