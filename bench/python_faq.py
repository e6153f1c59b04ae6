"""Build bench/data/python-faq-3.11.json: the Python FAQ as a retrieval set (question -> its answer).

Source: the Python 3.11 documentation's FAQ pages (``faq/*.rst``), as shipped by Debian's
``python3.11-doc`` package (3.11.2-6+deb12u9) under ``/usr/share/doc/python3.11/html/_sources/faq/``.
Licence: the Python documentation is under the PSF License Agreement (its code examples are also
0BSD); see ``license.html`` in the same package. The relevance labels are ours: each question's one
relevant document is the answer written under it, as with the zaragoza FAQ set. Nothing else is kept.

    apt-get install python3.11-doc && python bench/python_faq.py
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SOURCE = Path("/usr/share/doc/python3.11/html/_sources/faq")
OUT = Path(__file__).resolve().parent / "data" / "python-faq-3.11.json"
_ROLE = re.compile(r":[a-z:]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")  # :func:`name <target>` -> name
_LINK = re.compile(r"`([^`<]*?)\s*<[^>]*>`_+")  # `text <url>`_ -> text
_MAX_CHARS = 1500


def _clean(text: str) -> str:
    text = _ROLE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = text.replace("``", "").replace("**", "").replace("::", ":")
    lines = [line for line in text.splitlines() if not line.strip().startswith(".. ")]
    return " ".join(" ".join(lines).split())[:_MAX_CHARS]


def parse(path: Path) -> list[dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    items: list[dict[str, str]] = []
    question: str | None = None
    body: list[str] = []
    for i, line in enumerate(lines):
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        is_heading = bool(line.strip()) and bool(re.fullmatch(r"([-=~^\"'])\1{3,}", underline.strip()))
        if is_heading:
            if question and body:
                items.append({"q": question, "a": _clean("\n".join(body))})
            question = _clean(line) if underline.strip()[0] == "-" else None
            body = []
        elif question is not None and not re.fullmatch(r"([-=~^\"'])\1{3,}", line.strip()):
            body.append(line)
    if question and body:
        items.append({"q": question, "a": _clean("\n".join(body))})
    return items


def main() -> None:
    rows: list[dict[str, str]] = []
    for path in sorted(SOURCE.glob("*.rst.txt")):
        if path.name.startswith("index"):
            continue
        for n, item in enumerate(parse(path), start=1):
            if len(item["a"]) >= 40:
                rows.append({"id": f"{path.name.removesuffix('.rst.txt')}-{n}", **item})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "source": "Python 3.11 documentation, faq/*.rst (Debian package python3.11-doc 3.11.2-6+deb12u9)",
        "licence": "PSF License Agreement (documentation); labels (question -> its own answer) derived by storelink",
        "rows": rows,
    }
    OUT.write_text(json.dumps(meta, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(rows)} questions -> {OUT}")


if __name__ == "__main__":
    main()
