"""Bing's ways of failing, mapped to storelink's kinds (api-facts.md §4.4).

Bing reports every API error as **HTTP 400** with ``{"ErrorCode": n, "Message": "ERROR!!! …"}``,
including a bad API key and throttling, so the kind is read from ``ErrorCode`` (never from the
text). Success is HTTP 200 with the ``{"d": …}`` envelope; a 200 without it breaks the contract.
Gateways in front of Bing answer 5xx with HTML, which the status alone classifies.

Bing publishes no request-rate limit; overload is ErrorCode 4/5. It gives no wait either, so a
throttled read waits :data:`THROTTLE_WAIT_S` [INF] before its retry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import httpx2

from storelink.errors import ErrorKind
from storelink.resilience.classify import HttpClassifier, Verdict

__all__ = ["BING_ERRORS", "THROTTLE_WAIT_S", "BingClassifier", "BingError"]

THROTTLE_WAIT_S = 10.0  # [INF] no documented wait; long enough to matter, short enough for a 30 s deadline
KEY_HINT = "BING_WMT_API_KEY"
SITE_HINT = "Check BING_SITE_URL (or `site_url`) against `storelink call bing list_sites`."


@dataclass(frozen=True, slots=True)
class BingError:
    name: str
    kind: ErrorKind
    advice: str
    throttled: bool = False


# ApiErrorCode [DOC learn.microsoft.com …/apierrorcode]; 18 = InvalidToken seen live [3P].
BING_ERRORS: dict[int, BingError] = {
    0: BingError("None", ErrorKind.INVALID_REQUEST, "Bing gave no reason."),
    1: BingError("InternalError", ErrorKind.UNAVAILABLE, "An upstream fault; retry later."),
    2: BingError("UnknownError", ErrorKind.UNAVAILABLE, "An upstream fault; retry later."),
    3: BingError(
        "InvalidApiKey",
        ErrorKind.UNAUTHORIZED,
        f"Set {KEY_HINT} to a key from Bing Webmaster Tools > Settings > API Access; see `storelink live-check bing`.",
    ),
    4: BingError("ThrottleUser", ErrorKind.RATE_LIMITED, "Bing is throttling this account.", throttled=True),
    5: BingError("ThrottleHost", ErrorKind.RATE_LIMITED, "Bing is throttling this site.", throttled=True),
    6: BingError("UserBlocked", ErrorKind.FORBIDDEN, "Bing has blocked this account; see Bing Webmaster Tools."),
    7: BingError("InvalidUrl", ErrorKind.INVALID_REQUEST, "A URL is malformed or not on the site."),
    8: BingError("InvalidParameter", ErrorKind.INVALID_REQUEST, "A parameter is missing or malformed."),
    9: BingError("TooManySites", ErrorKind.INVALID_REQUEST, "The account has too many sites."),
    10: BingError("UserNotFound", ErrorKind.UNAUTHORIZED, f"No Bing user has this key; check {KEY_HINT}."),
    11: BingError("NotFound", ErrorKind.NOT_FOUND, f"Bing has no such object. {SITE_HINT}"),
    12: BingError("AlreadyExists", ErrorKind.INVALID_REQUEST, "It already exists."),
    13: BingError("NotAllowed", ErrorKind.FORBIDDEN, "Bing does not allow this (for URL submission: the quota)."),
    14: BingError(
        "NotAuthorized",
        ErrorKind.FORBIDDEN,
        f"This key's account may not use the site (not added or not verified). {SITE_HINT}",
    ),
    15: BingError("UnexpectedState", ErrorKind.INVALID_REQUEST, "The object is not in a state that allows this."),
    16: BingError("Deprecated", ErrorKind.INVALID_REQUEST, "Bing has retired this method."),
    18: BingError("InvalidToken", ErrorKind.UNAUTHORIZED, f"The credential was rejected; check {KEY_HINT}."),
}


class BingClassifier(HttpClassifier):
    """``secret`` is the API key: scrubbed from any text Bing sends back, however unlikely."""

    def __init__(self, *, secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._secret = secret

    def scrub(self, text: str) -> str:
        if self._secret and len(self._secret) >= 4:
            text = text.replace(self._secret, "***")
        return text

    def classify_status(self, response: httpx2.Response, body: Any) -> Verdict:
        verdict = super().classify_status(response, body)
        if response.status_code == 404 and not isinstance(body, dict):
            return replace(
                verdict,
                message="Bing answered 404 for the method URL: the method name is wrong or retired "
                "(only the JSON endpoint /webmaster/api.svc/json/ is supported).",
            )
        return verdict

    def classify_body(self, response: httpx2.Response, body: Any, verdict: Verdict) -> Verdict:
        if verdict.ok:
            if isinstance(body, dict) and "d" in body:
                return verdict
            return replace(
                verdict,
                kind=ErrorKind.UPSTREAM_ERROR,
                message='Bing answered 200 without its {"d": …} envelope; this breaks its contract. Retry later.',
            )
        code = body.get("ErrorCode") if isinstance(body, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            return verdict
        known = BING_ERRORS.get(code)
        name = known.name if known else f"ErrorCode{code}"
        text = self.scrub(str(body.get("Message") or "")).removeprefix("ERROR!!!").strip()[:200]
        detail = f" Bing said: {text}." if text and text.lower() != name.lower() else ""
        if known is None:
            return replace(
                verdict,
                kind=ErrorKind.INVALID_REQUEST,
                message=f"Bing refused the request with an unknown ErrorCode {code}.{detail}",
                upstream_code=name,
            )
        return replace(
            verdict,
            kind=known.kind,
            message=f"Bing refused the request: {name} (ErrorCode {code}). {known.advice}{detail}",
            upstream_code=name,
            retry_after_s=THROTTLE_WAIT_S if known.throttled else verdict.retry_after_s,
            # A throttled call was refused, so even a write may go again.
            maybe_applied=False if known.throttled else verdict.maybe_applied,
            retryable=None,
        )

    def error_detail(self, body: Any) -> str:
        if isinstance(body, dict) and isinstance(body.get("Message"), str):
            return self.scrub(str(body["Message"]))[:300]
        return super().error_detail(body)
