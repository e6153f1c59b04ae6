"""The connector's side of the pipeline: one pooled client per connector, one call per method.

Connectors describe requests (method, path, operation, cost, cache TTL, read or write) and get
back an :class:`UpstreamResponse` with the parsed body and the pipeline's report. Every report
is also added to the current call's trace, which :meth:`Connector.call` folds into ``Meta``.
"""

from __future__ import annotations

import json as _json
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx2

from storelink.errors import ConnectorError, ErrorKind
from storelink.resilience.pipeline import OPTIONS_KEY, REPORT_KEY, CallOptions, CallReport
from storelink.resilience.wire import SharedTransport  # re-exported: connectors lend their wire with it

__all__ = [
    "SharedTransport",
    "Upstream",
    "UpstreamResponse",
    "bypass_cache",
    "call_trace",
    "contract_error",
    "envelope_field",
    "object_list",
]

call_trace: ContextVar[list[CallReport] | None] = ContextVar("storelink_call_trace", default=None)
# Health probes must reach the upstream, not a cached answer.
bypass_cache: ContextVar[bool] = ContextVar("storelink_bypass_cache", default=False)


@dataclass(slots=True)
class UpstreamResponse:
    status: int
    headers: httpx2.Headers
    content: bytes
    report: CallReport

    def json(self) -> Any:
        if self.report.body is not None:
            return self.report.body
        return _json.loads(self.content) if self.content else None


class Upstream:
    """A thin layer over one ``httpx2.AsyncClient`` whose transport is the resilient pipeline."""

    def __init__(self, client: httpx2.AsyncClient) -> None:
        self.client = client

    async def request(
        self,
        method: str,
        url: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        write: bool = False,
        idempotent: bool = False,
        cost: float = 1.0,
        cache_ttl_s: float | None = None,
        deadline_s: float | None = None,
    ) -> UpstreamResponse:
        options = CallOptions(
            operation=operation,
            write=write,
            idempotent=idempotent,
            cost=cost,
            cache_ttl_s=0.0 if bypass_cache.get() else cache_ttl_s,
            deadline_s=deadline_s,
        )
        try:
            response = await self.client.request(
                method, url, params=params, json=json, data=data, headers=headers, extensions={OPTIONS_KEY: options}
            )
        except (httpx2.InvalidURL, httpx2.UnsupportedProtocol) as exc:
            # A parameter that cannot be part of a URL (a control character in an id) is the caller's
            # input: say so, rather than failing as an internal error.
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                f"The request could not be built from these parameters ({exc}); check the ids and values given.",
                operation=operation,
            ) from None
        report: CallReport = response.extensions[REPORT_KEY]
        trace = call_trace.get()
        if trace is not None:
            trace.append(report)
        return UpstreamResponse(response.status_code, response.headers, response.content, report)

    async def aclose(self) -> None:
        await self.client.aclose()


def contract_error(title: str, what: str) -> ConnectorError:
    """A 2xx whose body breaks the upstream's documented shape."""
    message = f"{title} broke its contract: {what}. Retry later."
    return ConnectorError(ErrorKind.UPSTREAM_ERROR, message, retryable=False)


def envelope_field(response: UpstreamResponse, key: str, *, title: str, envelope: str) -> Any:
    """``body[key]`` of a JSON envelope such as Bing's ``{"d": …}`` or Zoho's ``{status, data}``."""
    try:
        body = response.json()
    except ValueError:
        raise contract_error(title, "the reply is not JSON") from None
    if not isinstance(body, dict) or key not in body:
        raise contract_error(title, f"the reply has no {envelope} envelope")
    return body[key]


def object_list(value: Any, *, title: str) -> list[dict[str, Any]]:
    """A JSON list of objects (None is an empty list)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise contract_error(title, "a list of objects was expected")
    return value
