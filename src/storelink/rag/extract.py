"""From a fetched HTML page: its links and canonical URL (for the crawl), its main text (for the
index) and the links in that text (for answers that point elsewhere: "See the dyno results.").

Links come from a quick lxml parse. The main text comes from trafilatura as Markdown, which
keeps the headings the chunker splits on and drops navigation, footers and other boilerplate.

trafilatura only drops them when its own extractor finds at least 250 characters: below that it
falls back to a "baseline" that dumps the text of the whole ``<body>``, so a short page (a careers
note, a gift-card blurb) came out as the site's announcement bar, menu and footer with one line
of content, and that menu then answered unrelated questions. So it is given the page's main
landmark alone (the single ``<main>`` or ``role="main"``), or, on a page without one, the page
without its navigation, banner, footer and sidebars: whatever the fallback reads is then the page's
own text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html  # type: ignore[import-untyped]
import trafilatura
from lxml.etree import ParserError  # type: ignore[import-untyped]

__all__ = [
    "EXTRACTOR_VERSION",
    "MainText",
    "PageLinks",
    "extract_main",
    "page_links",
    "page_title",
]

# Part of every page's content hash (ingest.py): a new version re-extracts pages ingested before it.
EXTRACTOR_VERSION = "e3"  # e3: the links in the main text are kept (extract_main)


@dataclass(frozen=True, slots=True)
class PageLinks:
    canonical: str | None
    links: list[str]
    noindex: bool
    nofollow: bool


def _parse(html: bytes | str) -> object | None:
    try:
        root: object = lxml.html.fromstring(html)
    except (ParserError, ValueError):
        return None
    return root


def page_links(html: bytes | str) -> PageLinks:
    """The raw hrefs of a page (unresolved), its ``rel=canonical`` and its robots meta."""
    root = _parse(html)
    if root is None:
        return PageLinks(None, [], False, False)
    canonical = None
    for href in root.xpath('//link[@rel="canonical"]/@href'):  # type: ignore[attr-defined]
        canonical = str(href)
        break
    robots = " ".join(str(v) for v in root.xpath('//meta[@name="robots"]/@content')).lower()  # type: ignore[attr-defined]
    links = [
        str(a.get("href"))
        for a in root.xpath("//a[@href]")  # type: ignore[attr-defined]
        if "nofollow" not in (a.get("rel") or "")
    ]
    return PageLinks(canonical, links, "noindex" in robots, "nofollow" in robots)


_SITE_SUFFIX = re.compile(r"\s+[|–—-]\s+[^|–—-]+$")


def page_title(html: bytes | str) -> str:
    """The page's own title: its first ``<h1>``, else ``<title>`` without the site-name suffix."""
    root = _parse(html)
    if root is None:
        return ""
    for h1 in root.xpath("//h1"):  # type: ignore[attr-defined]
        text = " ".join(h1.text_content().split())
        if text:
            return text
    for title in root.xpath("//title"):  # type: ignore[attr-defined]
        return _SITE_SUFFIX.sub("", " ".join(title.text_content().split()))
    return ""


_MAIN = "//main | //*[@role='main']"
# Site chrome outside the page's own article: HTML5 landmarks and their ARIA roles.
_CHROME = (
    "//nav | //header | //footer | //aside"
    " | //*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='complementary']"
)


def _main_content(html: str) -> lxml.html.HtmlElement | str:
    """The page reduced to its main landmark, else stripped of its chrome; ``html`` if unparsable."""
    root = _parse(html)
    body = root.find("body") if root is not None else None  # type: ignore[attr-defined]
    if root is None or body is None:
        return html
    mains = root.xpath(_MAIN)  # type: ignore[attr-defined]
    if len(mains) == 1:
        main = mains[0]
        body.text = None
        for child in list(body):
            body.remove(child)
        main.tail = None  # lxml moves an element with its tail: the text after </main> is not the main's
        body.append(main)
        return root
    for element in root.xpath(_CHROME):  # type: ignore[attr-defined]
        if not element.xpath("ancestor::article | ancestor::main") and element.getparent() is not None:
            element.drop_tree()  # keeps the tail text, which belongs to the parent
    return root


@dataclass(frozen=True, slots=True)
class MainText:
    text: str  # the main content as Markdown, "" when none
    links: list[tuple[str, str]]  # (anchor text, raw href) of its links, in page order, repeats dropped


def extract_main(html: str, url: str | None = None) -> MainText:
    """The page's main content as Markdown (headings kept, tables included) and the links in it,
    from one parse. The links are the main text's only (no menus or footers): an answer sentence
    that names one ("Get the track day checklist.") points at the page that answers."""
    root = _main_content(html)
    links: dict[tuple[str, str], None] = {}
    if not isinstance(root, str):  # read before trafilatura, which cleans the tree it is given
        for a in root.xpath("//body//a[@href]"):
            anchor = " ".join(a.text_content().split())
            if anchor:
                links[(anchor, str(a.get("href")))] = None
    text = trafilatura.extract(
        root,
        url=url,
        output_format="markdown",
        include_tables=True,
        include_comments=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
        fast=True,  # no fallback extractors: 2× faster, F1 0.900 against 0.909 (trafilatura eval)
    )
    return MainText(text or "", list(links))
