"""Logging that cannot leak a secret.

Every handler storelink installs carries a :class:`RedactingFilter`: each set secret value is
replaced by ``***`` and credential-like query parameters in URLs (``apikey=``, ``access_token=``,
…) are masked, whatever logger the record came from (httpx2 logs request URLs, and Bing's API key
travels in one).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Sequence

from storelink.settings import Settings

__all__ = ["RedactingFilter", "configure_logging", "install_redaction", "redact"]

_SENSITIVE_QUERY = re.compile(
    r"(?i)([?&](?:api_?key|apikey|key|access_token|refresh_token|client_secret|token|code|signature|sig)=)[^&\s\"']+"
)
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    text = _SENSITIVE_QUERY.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted(set(secrets), key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message, self.secrets)
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.secrets)
            record.exc_info = None
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def install_redaction(settings: Settings, extra: Sequence[str] = ()) -> None:
    """Attach (or refresh) the redacting filter on every handler of the root logger; ``extra`` are
    secrets from elsewhere (a stores file's references)."""
    secrets = [*settings.secret_values(), *extra]
    for handler in logging.getLogger().handlers:
        for existing in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(existing)
        handler.addFilter(RedactingFilter(secrets))


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the configured level; quiet the per-request lines of the HTTP stack."""
    root = logging.getLogger()
    if not any(getattr(h, "_storelink", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._storelink = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    for noisy in ("httpx2", "httpx", "httpcore", "httpcore2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The site-knowledge libraries narrate every sitemap they read; below DEBUG only their
    # warnings matter (bm25s: see rag/lexical.py).
    libraries = logging.NOTSET if settings.log_level == "DEBUG" else logging.WARNING
    for chatty in ("usp", "trafilatura", "chromadb"):
        logging.getLogger(chatty).setLevel(libraries)
    install_redaction(settings)
