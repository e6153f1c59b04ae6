"""URL canonicalisation: one spelling per page, so the URL set has no duplicates.

Done here with :mod:`urllib.parse` rather than courlan, which rejects ``localhost`` and IP hosts
(reference rag.md §6.9) and so would drop every page of a loopback test site.
"""

from __future__ import annotations

import posixpath
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

__all__ = ["canonical_url", "origin_of", "path_of", "same_origin"]

# Query parameters that never select different content: analytics and referral tags.
_TRACKING = frozenset(
    {"fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "ref", "ref_", "_ga", "_gl", "_pos", "_sid", "_ss"}
)
# Links to these are files, not pages; fetching them would only cost the site bandwidth.
_SKIP_SUFFIXES = (
    ".jpg", ".jpeg", ".png", ".gif", ".webp", ".svg", ".ico", ".pdf", ".zip", ".gz", ".css", ".js", ".mp4",
    ".woff", ".woff2", ".xml", ".json", ".txt",
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str, base: str | None = None, *, keep_files: bool = False) -> str | None:
    """The canonical spelling of ``url`` (resolved against ``base``), or None for non-page links.

    Lower-case scheme and host, no default port, no fragment, no tracking parameters, sorted
    query, ``.``/``..`` resolved, no trailing slash except on the root.
    """
    raw = urljoin(base, url.strip()) if base else url.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = posixpath.normpath(parts.path) if parts.path else "/"
    if parts.path.endswith("/") and path != "/":
        path = path.rstrip("/")
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    if path == ".":
        path = "/"
    if not keep_files and path.lower().endswith(_SKIP_SUFFIXES):
        return None
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING and not k.lower().startswith("utm_")
    ]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL (canonical spelling)."""
    canonical = canonical_url(url, keep_files=True)
    if canonical is None:
        raise ValueError(f"not an http(s) URL: {url!r}")
    parts = urlsplit(canonical)
    return f"{parts.scheme}://{parts.netloc}"


def same_origin(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" == origin


def path_of(url: str) -> str:
    """Path and query of a URL: what robots.txt rules and the site's own links speak of."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
