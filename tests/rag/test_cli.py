"""``storelink rag`` over the demo site (mock mode), through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storelink.cli.rag import rag_app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STORELINK_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def run(*args: str) -> dict[str, object]:
    result = runner.invoke(rag_app, list(args))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert isinstance(answer, dict), answer
    return answer


@pytest.mark.slow
def test_discover_ingest_query_eval(data_dir: Path, tmp_path: Path) -> None:
    discovered = run("discover", "--json")
    assert discovered["urls"] == 347 and discovered["from_crawl"] == 8

    ingested = run("ingest", "--no-embed", "--json")
    assert ingested["updated"] == 347 and ingested["retrieval"] == "lexical"
    again = run("ingest", "--no-embed", "--json")
    assert again["not_modified"] == 347 and again["updated"] == 0

    answer = run("query", "When do I need to order for Christmas delivery?", "--json")
    assert answer["route"] == "correction"

    goldens = tmp_path / "goldens.yaml"
    goldens.write_text(
        "goldens:\n"
        "  - {question: 'Is there a restocking fee?', must_include: ['15 %'], expected_urls: [/policies/returns]}\n"
        "  - {question: 'Do gift cards expire?', must_include: [never expire], must_cite: [/pages/gift-cards]}\n"
    )
    report = run("eval", "--lexical", "--json", "--goldens", str(goldens))
    assert report["total"] == 2 and report["pass_rate"] == 1.0 and report["hit_at_1"] == 1.0

    human = runner.invoke(rag_app, ["query", "Do you ship to the UK?"])
    assert human.exit_code == 0 and "United Kingdom" in human.stdout and "/shipping" in human.stdout
    status = run("status", "--json")
    assert status["pages"] == 347 and status["mode"] == "mock"
    assert (data_dir / "storelink.db").is_file()
