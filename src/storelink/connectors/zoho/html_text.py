"""HTML mail bodies as readable text, with the standard library's ``html.parser``.

What a reader (a person or an agent) needs from a mail: paragraphs and line breaks where the
HTML had them, list items as ``- item``, table rows as cells joined by `` | ``, links as
``text (url)``, quoted replies (``<blockquote>``) prefixed with ``> ``, entities decoded, and
nothing of ``<script>``, ``<style>`` or ``<head>``. It is not a renderer: layout tables become
rows, and that is enough to read a mail.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "links_in"]

_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav",
        "ol", "p", "pre", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
    }
)  # fmt: skip
_SKIP = frozenset({"script", "style", "head", "title", "noscript", "template"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip_depth = 0
        self.quote_depth = 0
        self.pre_depth = 0
        self.list_stack: list[list[int]] = []  # per list: [is_ordered, next number]
        self.cells: list[str] | None = None
        self.link: tuple[str, int] | None = None  # href, length of the text before the link
        self.links: list[str] = []
        self.indent = ""  # of the current line: nested list items

    # -- lines ------------------------------------------------------------------------------------
    def _flush(self) -> None:
        text = "".join(self.current)
        self.current = []
        if self.pre_depth == 0:
            text = _SPACES.sub(" ", text).strip()
        if not text:
            return
        prefix = "> " * self.quote_depth + self.indent
        self.indent = ""
        for line in text.split("\n"):
            self.lines.append(prefix + line.rstrip())

    def _break(self, blank: bool = False) -> None:
        self._flush()
        if blank and self.lines and self.lines[-1].strip(">").strip():
            self.lines.append("> " * self.quote_depth if self.quote_depth else "")

    # -- tags -------------------------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip_depth += 1
            return
        if self.skip_depth:
            return
        if tag == "br":
            self._flush()
        elif tag in ("td", "th"):
            if self.cells is not None:
                self.cells.append("".join(self.current))
                self.current = []
        elif tag == "tr":
            self._flush()
            self.cells = []
        elif tag in ("ul", "ol"):
            self._flush()
            self.list_stack.append([tag == "ol", 1])
        elif tag == "li":
            self._flush()
            marker = "- "
            if self.list_stack and self.list_stack[-1][0]:
                marker = f"{self.list_stack[-1][1]}. "
                self.list_stack[-1][1] += 1
            self.indent = "  " * max(0, len(self.list_stack) - 1)
            self.current.append(marker)
        elif tag == "blockquote":
            self._break(blank=True)
            self.quote_depth += 1
        elif tag == "pre":
            self._break()
            self.pre_depth += 1
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.link = (href, len("".join(self.current)))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.current.append(f"[{alt}]")
        elif tag in _BLOCK:
            self._break(blank=tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "hr"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
            return
        if self.skip_depth:
            return
        if tag == "a" and self.link is not None:
            href, start = self.link
            self.link = None
            text = "".join(self.current)[start:].strip()
            if href.startswith(("http://", "https://", "mailto:")):
                self.links.append(href)
                shown = href.removeprefix("mailto:")
                if shown not in text:
                    self.current.append(f" ({shown})")
        elif tag == "tr":
            if self.cells is not None:
                self.cells.append("".join(self.current))
                self.current = [" | ".join(c for c in (_SPACES.sub(" ", c).strip() for c in self.cells) if c)]
            self.cells = None
            self._flush()
        elif tag in ("ul", "ol"):
            self._flush()
            if self.list_stack:
                self.list_stack.pop()
        elif tag == "blockquote":
            self._flush()
            self.quote_depth = max(0, self.quote_depth - 1)
            self._break(blank=True)
        elif tag == "pre":
            self._flush()
            self.pre_depth = max(0, self.pre_depth - 1)
        elif tag in _BLOCK and tag not in ("td", "th"):
            self._break(blank=tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6", "table"))

    def handle_data(self, data: str) -> None:
        if self.skip_depth:
            return
        if self.pre_depth:
            self.current.append(data)
            return
        self.current.append(data.replace("\n", " "))

    def text(self) -> str:
        self._flush()
        out: list[str] = []
        for line in self.lines:
            blank = not line.strip(">").strip()
            if blank and (not out or not out[-1].strip(">").strip()):
                continue  # one blank line at most, none at the start
            out.append(line.rstrip())
        while out and not out[-1].strip(">").strip():
            out.pop()
        return "\n".join(out)


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body (plain text passes through with its lines kept)."""
    if "<" not in html:
        return html.strip()
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.text()


def links_in(html: str) -> list[str]:
    """The http(s) and mailto links of an HTML body, in order, without repeats."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return list(dict.fromkeys(parser.links))
