"""Zoho Mail's ways of failing, mapped to storelink's kinds (api-facts.md §5.3, §5.5).

Every answer is an envelope ``{"status": {"code", "description"}, "data": …}``; an error's
``data`` holds ``errorCode`` and sometimes ``moreInfo``. ``INVALID_OAUTHTOKEN`` (401) and
``INVALID_TICKET`` (400: no or malformed header) both mean "get a fresh token", so both are
``unauthorized`` and the pipeline refreshes once. A 2xx without the envelope, or whose
``status.code`` says failure, breaks the contract. Mail documents no 429; the rate block's wire
format is unknown, so a 429 (what other Zoho APIs send) is read as throttling [INF].
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx2

from storelink.errors import ErrorKind
from storelink.resilience.classify import HttpClassifier, Verdict

__all__ = ["ZohoClassifier", "envelope_error"]

CREDENTIALS = "ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET and ZOHO_REFRESH_TOKEN"
SCOPES_DOC = "docs/connectors/zoho.md#scopes"


def envelope_error(body: Any) -> tuple[str | None, str | None]:
    """``(errorCode, moreInfo or status.description)`` of an envelope, when there is one."""
    if not isinstance(body, dict):
        return None, None
    data = body.get("data")
    status = body.get("status")
    code = data.get("errorCode") if isinstance(data, dict) else None
    info = data.get("moreInfo") if isinstance(data, dict) else None
    if not info and isinstance(status, dict):
        info = status.get("description")
    return (str(code) if code else None), (str(info)[:200] if info else None)


class ZohoClassifier(HttpClassifier):
    def classify_status(self, response: httpx2.Response, body: Any) -> Verdict:
        verdict = super().classify_status(response, body)
        code, info = envelope_error(body)
        if code:
            verdict = replace(verdict, upstream_code=code)
        status = response.status_code
        if status == 401 or code in ("INVALID_OAUTHTOKEN", "INVALID_TICKET"):
            return replace(
                verdict,
                kind=ErrorKind.UNAUTHORIZED,
                message=f"Zoho Mail rejected the access token ({code or status}) even after a refresh. Check "
                f"{CREDENTIALS} (and ZOHO_DC); `storelink auth zoho` mints a new refresh token.",
                maybe_applied=False,
            )
        if status == 403:
            return replace(
                verdict,
                message=f"Zoho Mail refused access (403{', ' + code if code else ''}): the refresh token lacks a "
                f"scope this operation needs. Mint one with all the scopes in {SCOPES_DOC}.",
            )
        if status == 404:
            return replace(
                verdict,
                message="Zoho Mail has no such account, folder or message (404). Check ZOHO_ACCOUNT_ID and the "
                "ids you passed (list_accounts, list_folders and list_messages give them).",
            )
        if status == 429:
            return replace(
                verdict,
                message="Zoho Mail is rate limiting this user (about 30 requests a minute); retry after "
                f"{verdict.retry_after_s or 60:.0f} s.",
            )
        if verdict.kind is ErrorKind.INVALID_REQUEST:
            detail = f": {info}" if info else ""
            return replace(verdict, message=f"Zoho Mail rejected the request ({code or status}){detail}.")
        return verdict

    def classify_body(self, response: httpx2.Response, body: Any, verdict: Verdict) -> Verdict:
        if not verdict.ok:
            return verdict
        status = body.get("status") if isinstance(body, dict) else None
        if not isinstance(status, dict) or "data" not in body:
            return replace(
                verdict,
                kind=ErrorKind.UPSTREAM_ERROR,
                message="Zoho Mail answered without its {status, data} envelope; this breaks its contract. "
                "Retry later.",
            )
        inner = status.get("code")
        if isinstance(inner, int) and inner >= 400:
            code, info = envelope_error(body)
            return replace(
                verdict,
                kind=ErrorKind.UPSTREAM_ERROR,
                message=f"Zoho Mail answered {response.status_code} with an error inside ({inner} "
                f"{code or ''}{': ' + info if info else ''}).",
                upstream_code=code,
            )
        return verdict

    def error_detail(self, body: Any) -> str:
        code, info = envelope_error(body)
        if code or info:
            return " ".join(filter(None, (code, info)))
        return super().error_detail(body)
