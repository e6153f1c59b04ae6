"""From a fetched HTML page: its links and canonical URL (for the crawl), and its main text (for the index).

Links come from a quick lxml parse. The main text comes from trafilatura as Markdown, which
keeps the headings the chunker splits on and drops navigation, footers and other boilerplate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html  # type: ignore[import-untyped]
import trafilatura
from lxml.etree import ParserError  # type: ignore[import-untyped]

__all__ = ["PageLinks", "extract_main_text", "page_links", "page_title"]


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


def extract_main_text(html: str, url: str | None = None) -> str:
    """The page's main content as Markdown (headings kept, tables included), or "" when none."""
    text = trafilatura.extract(
        html,
        url=url,
        output_format="markdown",
        include_tables=True,
        include_comments=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
        fast=True,  # no fallback extractors: 2× faster, F1 0.900 against 0.909 (trafilatura eval)
    )
    return text or ""
