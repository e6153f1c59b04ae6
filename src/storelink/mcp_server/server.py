"""Build the MCP server from the connector registry.

Tools are ``<connector>_<operation>`` adapters (tools.py), plus ``storelink_capabilities``,
``connector_health`` and ``connector_metrics``. ``STORELINK_MCP_TOOLS`` selects tools by glob
(``*,-zoho_*``: all but Zoho's), because too many tools confuse models; write tools exist only when
``STORELINK_ALLOW_WRITES`` names them.

Every tool error reads ``[kind] message``, short whatever the input: :class:`StorelinkServer`
rewrites the SDK's ``Error executing tool …`` and raw pydantic text, and refuses arguments a tool
does not take (the SDK would drop them silently, so a typo in ``idempotency_key`` sent a mail twice).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Any

from mcp.server import MCPServer
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, InputRequiredResult, ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from storelink import __version__
from storelink.connectors.base import Connector, Health, OperationSpec
from storelink.connectors.writes import is_write_allowed
from storelink.errors import MAX_MESSAGE, Mode, clip, describe_validation_error
from storelink.mcp_server.schema import clean_schema
from storelink.mcp_server.tools import insights_tools, knowledge_tools, operation_tool
from storelink.observability.logs import install_redaction
from storelink.runtime import Runtime
from storelink.settings import Settings

__all__ = ["INSTRUCTIONS", "StorelinkServer", "build_server", "select_tools"]

INSTRUCTIONS = """\
storelink reaches the store's business data: Shopify (products, orders, inventory, customers,
sales), Google Analytics 4, Search Console, Bing Webmaster Tools and Zoho Mail. Start with
`storelink_capabilities` to see which sources are configured (live) or simulated (mock).
Tool names are <source>_<operation>. Dates are YYYY-MM-DD, days as each source counts them: the
shop's own time zone for Shopify and GA4, Pacific time for Search Console; "yesterday" and `days`
end on that source's yesterday. List tools return at most
`limit` items and a `next_cursor`; pass it back as `cursor` to continue. Every result carries
`meta` (mode, source, attempts, latency). Errors start with their kind in brackets, e.g.
[rate_limited] … (retry after 2.0 s): wait before retrying; [invalid_request]: fix the arguments.
"""


class StorelinkServer(MCPServer[Any]):
    """The SDK's server, with tool errors agents can branch on (docs/mcp.md, "Errors")."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            raise ToolError(f"[invalid_request] No tool {clip(name)!r}; tools/list shows the tools that are on.")
        valid = list(tool.parameters.get("properties", {}))
        unknown = [repr(clip(key)) for key in arguments if key not in valid]
        if unknown:
            raise ToolError(
                clip(
                    f"[invalid_request] {name} takes no argument {', '.join(unknown[:5])}; "
                    + (f"valid: {', '.join(valid)}." if valid else "it takes no arguments."),
                    MAX_MESSAGE,
                )
            )
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError as exc:
            # A bug: the traceback is logged (by the SDK, from the cause), the caller hears the kind.
            raise UnexpectedToolError(
                f"[internal_error] {name} failed on an unexpected error; it is logged on the server."
            ) from exc.__cause__
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(cause, ValidationError):  # the SDK's own check of the arguments' types
                text = f"[invalid_request] Invalid arguments for {name}: "
                text += describe_validation_error(cause, allowed=valid)
            elif isinstance(cause, ToolError):  # ours, already "[kind] message"
                text = str(cause)
            else:
                text = str(exc).removeprefix(f"Error executing tool {name}: ")
            raise ToolError(clip(text, MAX_MESSAGE)) from cause


def select_tools(names: Sequence[str], spec: str) -> list[str]:
    """Apply ``STORELINK_MCP_TOOLS``: comma-separated globs; a leading ``-`` excludes."""
    patterns = [p.strip() for p in spec.split(",") if p.strip()] or ["*"]
    include = [p for p in patterns if not p.startswith("-")] or ["*"]
    exclude = [p[1:] for p in patterns if p.startswith("-")]
    return [
        n
        for n in names
        if any(fnmatch.fnmatchcase(n, p) for p in include) and not any(fnmatch.fnmatchcase(n, p) for p in exclude)
    ]


class ConnectorStatus(BaseModel):
    name: str
    title: str
    mode: Mode
    breaker: str
    missing: list[str] = Field(description="Settings live mode needs that are not set.")
    tools: list[str]


class Capabilities(BaseModel):
    version: str
    connectors: list[ConnectorStatus]
    tools: list[str]
    writes_enabled: list[str] = Field(description="Write tools that are on (all others are off).")


class HealthReport(BaseModel):
    connectors: list[Health]


class MetricsReport(BaseModel):
    connectors: dict[str, Any] = Field(description="Per connector: rolling windows, breaker, headroom, operations.")


def build_server(
    settings: Settings,
    get_runtime: Callable[[], Runtime],
    connector_classes: Sequence[type[Connector]],
    *,
    name: str = "storelink",
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
) -> StorelinkServer:
    server = StorelinkServer(
        name,
        version=__version__,
        instructions=INSTRUCTIONS,
        token_verifier=token_verifier,
        auth=auth,
        log_level=settings.log_level,
    )
    install_redaction(settings)  # the SDK may have added a log handler of its own
    candidates: dict[str, tuple[Any, ...]] = {}
    specs: dict[str, OperationSpec] = {}
    per_connector: dict[str, list[str]] = {}
    for cls in connector_classes:
        for spec in cls.operations.values():
            if spec.write and not is_write_allowed(settings.allow_writes, cls.name, spec.name):
                continue
            tool_name = f"{cls.name}_{spec.name}"
            candidates[tool_name] = operation_tool(cls.name, spec, get_runtime)
            specs[tool_name] = spec
            per_connector.setdefault(cls.name, []).append(tool_name)

    async def storelink_capabilities() -> Capabilities:
        """What storelink can reach right now: each source's mode (live, mock, disabled), what it
        lacks for live mode, and which tools are on. Call this first."""
        runtime = get_runtime()
        on = set(enabled)
        return Capabilities(
            version=__version__,
            connectors=[
                ConnectorStatus(
                    name=c.name,
                    title=c.title,
                    mode=c.mode,
                    breaker=c.breaker.state.value,
                    missing=c.ctx.missing,
                    tools=[t for t in per_connector.get(c.name, []) if t in on],
                )
                for c in runtime.registry
            ],
            tools=enabled,
            writes_enabled=[t for t in enabled if t in writes],
        )

    async def connector_health(ctx: Context, connector: str | None = None) -> HealthReport:
        """Probe one source (or all) with a cheap call and report ok / degraded / down / disabled,
        the breaker state and what is wrong. `connector`: e.g. "shopify"; omit for all."""
        runtime = get_runtime()
        targets = list(runtime.registry) if connector is None else [_connector(runtime, connector)]
        return HealthReport(connectors=[await c.health() for c in targets])

    async def connector_metrics(connector: str | None = None) -> MetricsReport:
        """Error rate and latency percentiles (1 m, 5 m, 1 h), retries, throttles, cache hits,
        breaker state and rate-limit headroom per source. `connector`: omit for all."""
        snapshot = get_runtime().metrics.snapshot()["connectors"]
        if connector is not None:
            snapshot = {connector: snapshot.get(connector, {})}
        return MetricsReport(connectors=snapshot)

    meta_tools: dict[str, Callable[..., Any]] = {
        "storelink_capabilities": storelink_capabilities,
        "connector_health": connector_health,
        "connector_metrics": connector_metrics,
    }
    writes = {n for n, (fn, _, ann) in candidates.items() if ann.destructive_hint}
    knowledge_names = ["search", "fetch", "site_answer"]
    insight_names = ["insights_seo_opportunities", "insights_inventory_signals", "insights_product_recommendations"]
    enabled = select_tools([*meta_tools, *knowledge_names, *insight_names, *candidates], settings.mcp_tools)
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    # Site-knowledge tools load the retrieval stack; only when they are on.
    knowledge = knowledge_tools(get_runtime) if set(knowledge_names) & set(enabled) else {}
    knowledge.update(insights_tools(get_runtime) if set(insight_names) & set(enabled) else {})
    params_of: dict[str, type[BaseModel]] = {name: spec.params for name, spec in specs.items()}
    for tool_name in enabled:
        if tool_name in meta_tools:
            server.add_tool(meta_tools[tool_name], name=tool_name, annotations=read_only)
        elif tool_name in knowledge:
            fn, description, params_model = knowledge[tool_name]
            params_of[tool_name] = params_model
            site = ToolAnnotations(title=tool_name.replace("_", " "), read_only_hint=True, open_world_hint=True)
            server.add_tool(fn, name=tool_name, description=description, annotations=site)
        else:
            fn, description, annotations = candidates[tool_name]
            server.add_tool(fn, name=tool_name, description=description, annotations=annotations)
    for tool in server._tool_manager.list_tools():
        # Operation tools publish their params model's own schema (the adapter may be looser);
        # every schema is cleaned for strict clients.
        model = params_of.get(tool.name)
        tool.parameters = clean_schema(model.model_json_schema() if model else tool.parameters)
    return server


def _connector(runtime: Runtime, name: str) -> Connector:
    if name not in runtime.registry.names():
        raise ToolError(
            f"[invalid_request] connector: no source {clip(name)!r}; sources: {', '.join(runtime.registry.names())}."
        )
    return runtime.registry.get(name)
