"""The GA4 fake's app: its routes, authentication and property checks, the quota buckets charged per
request, and the gate that counts requests in flight and the server errors answered."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from functools import cached_property
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storelink.fakes.base import FakeUpstream
from storelink.fakes.data import DemoStore, demo_store
from storelink.fakes.faults import Fault, FaultPlan
from storelink.fakes.ga4.catalogue import metadata_body
from storelink.fakes.ga4.filters import _BadRequest
from storelink.fakes.ga4.quota import PACIFIC, QuotaLimits, _PropertyState, _Usage
from storelink.fakes.ga4.reports import _Reporter
from storelink.fakes.ga4.traffic import Ga4Signals, Ga4Traffic
from storelink.fakes.google_auth import (
    ANALYTICS_SCOPES,
    GoogleTokenFake,
    google_error,
    google_fault_response,
    loop_clock,
    with_token_endpoint,
)

DEMO_PROPERTY_ID = "412345678"


_PROPERTY_PATH = re.compile(r"^/v1beta/properties/([^/:]+)(?::(runReport|runRealtimeReport)|/(metadata))$")


class Ga4Fake(FakeUpstream):
    name = "ga4"

    def __init__(
        self,
        *,
        faults: FaultPlan | None = None,
        store: DemoStore | None = None,
        properties: Iterable[str] = (DEMO_PROPERTY_ID,),
        tokens: GoogleTokenFake | None = None,
        limits: QuotaLimits | None = None,
        latency_s: float = 0.0,
        clock: Callable[[], float] = loop_clock,
        wall: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(faults=faults)
        self.traffic = Ga4Traffic(store or demo_store())
        self.properties = {p.removeprefix("properties/") for p in properties}
        self.tokens = tokens or GoogleTokenFake(clock=clock)
        self.limits = limits or QuotaLimits()
        self.latency_s = latency_s
        self.clock = clock
        self._wall = wall  # mock mode: the connector's own wall clock, so both agree on the day
        self._wall_anchor: float | None = None
        self.state: dict[str, _PropertyState] = defaultdict(_PropertyState)
        self.peak_in_flight = 0
        self.refused: Counter[str] = Counter()
        self.tokens_charged = 0
        self._reporter = _Reporter(self.traffic, self.wall)

    @property
    def signals(self) -> Ga4Signals:
        return self.traffic.signals

    def wall(self) -> float:
        """Epoch seconds: the wall clock given, else one moving with :attr:`clock` (anchored at first
        use). The quota windows' time."""
        if self._wall is not None:
            return self._wall()
        now = self.clock()
        if self._wall_anchor is None:
            self._wall_anchor = time.time() - now
        return self._wall_anchor + now

    def max_server_errors_in_an_hour(self, property_id: str = DEMO_PROPERTY_ID) -> int:
        return max(self.state[property_id].server_errors.values(), default=0)

    # -- the app -------------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1beta/{path:path}", self.dispatch, methods=["GET", "POST"]),
            Route("/_fake/quota", self._quota_report, methods=["GET"]),
            Route("/_fake/quota", self._quota_reset, methods=["DELETE"]),
        ]

    def quota_report(self) -> dict[str, Any]:
        """What the properties saw, for benchmarks: the most requests in flight at once, the most
        server errors in one hour, the refusals by message and the tokens charged."""
        return {
            "peak_in_flight": self.peak_in_flight,
            "max_server_errors_in_an_hour": {p: self.max_server_errors_in_an_hour(p) for p in sorted(self.properties)},
            "refused": dict(self.refused),
            "tokens_charged": self.tokens_charged,
        }

    async def _quota_report(self, request: Request) -> Response:
        return JSONResponse(self.quota_report())

    async def _quota_reset(self, request: Request) -> Response:
        self.state.clear()
        self.peak_in_flight = 0
        self.refused.clear()
        self.tokens_charged = 0
        return JSONResponse({"ok": True})

    @cached_property
    def app(self) -> ASGIApp:
        return with_token_endpoint(_PropertyGate(super().app, self), self.tokens)

    def fault_response(self, fault: Fault, plan: FaultPlan) -> Response:
        return google_fault_response(fault, legacy=False, rate_message="Exhausted concurrent requests quota.")

    def _windows(self, usage: _Usage) -> None:
        wall = self.wall()
        hour = int(wall // 3600)
        day = dt.datetime.fromtimestamp(wall, PACIFIC).date()
        if usage.hour != hour:
            usage.hour, usage.hour_tokens = hour, 0
        if usage.day != day:
            usage.day, usage.day_tokens = day, 0

    def exhausted(self, property_id: str, category: str) -> str | None:
        """The message of the first exhausted bucket, or None."""
        state = self.state[property_id]
        usage = state.usage[category]
        self._windows(usage)
        if state.server_errors[int(self.wall() // 3600)] >= self.limits.server_errors_per_hour:
            return "Exhausted server errors quota."
        if usage.day_tokens >= self.limits.tokens_per_day:
            return "Exhausted property tokens per day. These quota tokens will return in under 24 hours."
        if usage.hour_tokens >= self.limits.tokens_per_project_per_hour:
            return "Exhausted property tokens for a project per hour. These quota tokens will return in under an hour."
        if usage.hour_tokens >= self.limits.tokens_per_hour:
            return "Exhausted property tokens per hour. These quota tokens will return in under an hour."
        return None

    def _quota(self, property_id: str, category: str, cost: int) -> dict[str, Any]:
        state = self.state[property_id]
        usage = state.usage[category]
        errors = state.server_errors[int(self.wall() // 3600)]
        lim = self.limits

        def status(consumed: int, remaining: int) -> dict[str, int]:
            return {"consumed": consumed, "remaining": max(0, remaining)}

        return {
            "tokensPerDay": status(cost, lim.tokens_per_day - usage.day_tokens),
            "tokensPerHour": status(cost, lim.tokens_per_hour - usage.hour_tokens),
            "concurrentRequests": status(0, lim.concurrent - state.in_flight + 1),
            "serverErrorsPerProjectPerHour": status(0, lim.server_errors_per_hour - errors),
            "potentiallyThresholdedRequestsPerHour": status(0, lim.thresholded_per_hour),
            "tokensPerProjectPerHour": status(cost, lim.tokens_per_project_per_hour - usage.hour_tokens),
        }

    async def dispatch(self, request: Request) -> Response:
        match = _PROPERTY_PATH.match(request.url.path)
        if match is None:
            return google_error(404, f"Method not found: {request.url.path}", status="NOT_FOUND")
        property_id, method, meta = match.groups()
        if (denied := self.tokens.check_bearer(request, ANALYTICS_SCOPES)) is not None:
            return denied
        if not property_id.isdigit():
            return google_error(400, f"Invalid property ID: {property_id}. A numeric Property ID is required.")
        if property_id not in self.properties:
            return google_error(
                403,
                "User does not have sufficient permissions for this property. To learn more about Property ID, "
                "see https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
            )
        category = "realtime" if method == "runRealtimeReport" else "core"
        if (message := self.exhausted(property_id, category)) is not None:
            self.refused[message] += 1
            return google_error(429, message)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if meta:
            if request.method != "GET":
                return google_error(405, "Method not allowed.", status="INVALID_ARGUMENT")
            self._charge(property_id, category, 1)
            return JSONResponse(metadata_body(f"properties/{property_id}"))
        if request.method != "POST":
            return google_error(405, "Method not allowed.", status="INVALID_ARGUMENT")
        try:
            body = await request.json()
        except ValueError:
            return google_error(400, "Invalid JSON payload received.")
        if not isinstance(body, dict):
            return google_error(400, "Invalid JSON payload received.")
        try:
            if method == "runReport":
                response, cost = self._reporter.run_report(body)
            else:
                response, cost = self._reporter.run_realtime(body)
        except _BadRequest as exc:
            return google_error(400, str(exc))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # The real API rejects any request it cannot read with 400 INVALID_ARGUMENT.
            return google_error(400, f"Invalid request: {type(exc).__name__} in the request body.")
        self._charge(property_id, category, cost)
        if body.get("returnPropertyQuota"):
            response["propertyQuota"] = self._quota(property_id, category, cost)
        return JSONResponse(response)

    def _charge(self, property_id: str, category: str, cost: int) -> None:
        usage = self.state[property_id].usage[category]
        self._windows(usage)
        usage.hour_tokens += cost
        usage.day_tokens += cost
        self.tokens_charged += cost


class _PropertyGate:
    """Outermost layer: concurrency per property, the server-error lock, and counting every 5xx
    (injected faults included) against the property's hourly server-error quota."""

    def __init__(self, app: ASGIApp, fake: Ga4Fake) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PROPERTY_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        fake = self.fake
        state = fake.state[match.group(1)]
        state.in_flight += 1
        fake.peak_in_flight = max(fake.peak_in_flight, state.in_flight)
        status = 0

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            if state.in_flight > fake.limits.concurrent:
                fake.refused["Exhausted concurrent requests quota."] += 1
                await google_error(429, "Exhausted concurrent requests quota.")(scope, receive, observe)
                return
            await self.app(scope, receive, observe)
        finally:
            state.in_flight -= 1
            if status >= 500:
                state.server_errors[int(fake.wall() // 3600)] += 1
