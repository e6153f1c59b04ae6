"""Log levels: storelink's own at the configured level, chatty libraries only when debugging."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from storelink.observability.logs import configure_logging
from storelink.rag.lexical import LexicalIndex
from tests.conftest import make_settings

NAMES = ("", "usp", "trafilatura", "chromadb", "bm25s", "httpx2")


@pytest.fixture(autouse=True)
def restore_levels() -> Iterator[None]:
    saved = {name: logging.getLogger(name).level for name in NAMES}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def test_libraries_speak_at_info_only_when_debugging(tmp_path: Path) -> None:
    configure_logging(make_settings(tmp_path, log_level="INFO"))
    assert logging.getLogger("storelink.rag").isEnabledFor(logging.INFO)
    for chatty in ("usp", "trafilatura", "chromadb", "httpx2"):
        assert not logging.getLogger(chatty).isEnabledFor(logging.INFO), chatty
        assert logging.getLogger(chatty).isEnabledFor(logging.WARNING), chatty
    configure_logging(make_settings(tmp_path, log_level="DEBUG"))
    assert logging.getLogger("usp").isEnabledFor(logging.DEBUG)


def test_bm25s_does_not_log_every_index_build_at_info(tmp_path: Path) -> None:
    configure_logging(make_settings(tmp_path, log_level="INFO"))
    LexicalIndex.build([("a", "brake pads"), ("b", "rotors")])  # bm25s sets its logger to DEBUG on import
    assert not logging.getLogger("bm25s").isEnabledFor(logging.DEBUG)
