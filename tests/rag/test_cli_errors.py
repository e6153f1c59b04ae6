"""An address that is not a website: one clear line and a non-zero exit, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.cli.rag import rag_app
from storelink.errors import ConfigurationError
from storelink.observability.metrics import Metrics
from storelink.rag.fetch import SiteFetcher
from tests.conftest import make_settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


@pytest.mark.parametrize(
    "url", ["file:///etc", "ftp://shop.example/", "not a url", "http://", "http://shop.example:99999/"]
)
def test_discover_refuses_what_is_not_an_http_site(url: str) -> None:
    result = runner.invoke(rag_app, ["discover", url])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # typer.Exit, not an exception from inside discover
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("invalid_request: ") and "http(s)" in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("site_url", ["file:///srv/shop", "ftp://shop.example/"])
def test_a_site_url_that_is_not_http_is_a_configuration_error(site_url: str, tmp_path: Path) -> None:
    """Raised where the CLI and the servers turn it into one line (exit 2), not a ValueError."""
    settings = make_settings(tmp_path, site_url=site_url)
    with pytest.raises(ConfigurationError, match=r"^STORELINK_SITE_URL must be the http\(s\) address"):
        SiteFetcher.for_settings(settings, metrics=Metrics(), cache=None)


@pytest.mark.parametrize(
    ("question", "says"), [("", "is empty"), ("   ", "is empty"), ("x" * 1_001, "1,001 characters")]
)
def test_an_empty_or_overlong_question_is_one_line_and_exit_2(question: str, says: str, data_dir: Path) -> None:
    result = runner.invoke(rag_app, ["query", question])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "storelink rag query" in lines[0], result.output
    assert not data_dir.exists()  # refused before anything was opened or ingested


def test_tuning_the_fusion_without_the_model_says_so_in_one_line(tmp_path: Path) -> None:
    goldens = tmp_path / "goldens.yaml"
    goldens.write_text("goldens:\n  - {question: 'Is there a restocking fee?', must_include: ['15 %']}\n")
    result = runner.invoke(rag_app, ["eval", "--lexical", "--tune", "--goldens", str(goldens)])
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]  # after the first-use ingest's log line
    assert last == "configuration: Tuning needs the embedding model: the index is lexical-only.", result.output
    assert "Traceback" not in result.output
