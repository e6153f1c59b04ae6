"""The chaos matrix, cell by cell (issue 14, finding 10): each connector's representative read in mock
mode against each fault, on every request and in a burst. See :mod:`tests.chaos.matrix` for the
expectations (one table, shared with ``bench/chaos.py``) and the rules behind them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.matrix import CELLS, DOC, EXPECTED, Cell, Result, render_table, run_cell, run_matrix, section

# What the cells of this session measured, so that the table check below need not run them again.
_measured: dict[Cell, Result] = {}


def _param(cell: Cell) -> object:
    reason = EXPECTED[cell].xfail
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(cell, id=cell.id, marks=marks)


@pytest.mark.looptime
@pytest.mark.parametrize("cell", [_param(c) for c in CELLS])
async def test_cell(cell: Cell, tmp_path: Path) -> None:
    expect = EXPECTED[cell]
    got = await run_cell(cell, tmp_path)
    _measured[cell] = got
    assert got.outcome == expect.outcome, got.message
    assert got.attempts == expect.attempts
    assert got.elapsed_s <= got.deadline_s, f"{got.elapsed_s} s is past the {got.deadline_s} s deadline"
    assert got.elapsed_s >= expect.min_elapsed_s, "a wait the upstream asked for was not honoured"


def test_the_matrix_covers_five_connectors_eight_faults_two_patterns() -> None:
    assert len(CELLS) == 80 == len({c.id for c in CELLS})


def test_reliability_doc_shows_this_matrix(tmp_path: Path) -> None:
    """docs/reliability.md's table is what `python bench/chaos.py --write` prints for the matrix as it
    now behaves: changed expectations or behaviour fail here until the table is regenerated."""
    missing = tuple(c for c in CELLS if c not in _measured)  # cells not run above (a -k selection)
    results = {**_measured, **(run_matrix(tmp_path, missing) if missing else {})}
    assert section(DOC.read_text()) == render_table(results), "run `python bench/chaos.py --write`"
