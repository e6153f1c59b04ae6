"""The chaos matrix as a table: 5 connectors × 8 faults × (every request, a burst then ok).

Runs the same cells as ``tests/chaos/test_matrix.py`` (the expectations live in one place,
``tests/chaos/matrix.py``) on a ``looptime`` event loop, so stalls, Retry-After waits and backoff
take no real time and every figure is exact; prints the Markdown table and, with ``--write``,
puts it between the markers in ``docs/reliability.md``. Exits 1 when a cell is not as expected.

    python bench/chaos.py [--write]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.chaos.matrix import CELLS, DOC, EXPECTED, render_table, replace_section, run_matrix


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite the table in {DOC.name}")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        results = run_matrix(Path(tmp))
    table = render_table(results)
    print(table)
    wrong = [c for c in CELLS if not results[c].meets(EXPECTED[c])]
    print(f"\n{len(CELLS)} cells in {time.perf_counter() - started:.1f} s of real time.", file=sys.stderr)
    for cell in wrong:
        print(f"not as expected: {cell.id}: {results[cell]}", file=sys.stderr)
    if args.write:
        DOC.write_text(replace_section(DOC.read_text(), table))
        print(f"wrote {DOC}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
