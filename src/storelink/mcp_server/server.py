"""Build the MCP server from the connector registry.

Tools are ``<connector>_<operation>`` adapters (tools.py), plus ``storelink_capabilities``,
``connector_health``, ``connector_metrics``, the site-knowledge and insights tools, and the
cross-store ``stores_*`` tools. Every tool bound to one store takes ``store`` (omitted when the
caller reaches only one); the ``stores_*`` tools take ``stores``. ``STORELINK_MCP_TOOLS`` selects
tools by glob (``*,-zoho_*``: all but Zoho's), because too many tools confuse models; write tools
exist only when ``STORELINK_ALLOW_WRITES`` names them.

Every tool error reads ``[kind] message``, short whatever the input: :class:`StorelinkServer`
rewrites the SDK's ``Error executing tool …`` and raw pydantic text, and refuses arguments a tool
does not take (the SDK would drop them silently, so a typo in ``idempotency_key`` sent a mail twice).

The surface is sized for a model's context (docs/mcp.md, "Size"): ``tools/list`` carries no output
schemas (they were 70 % of it, and clients put at most the input schema in front of the model);
``storelink_output_schema`` gives any tool's on request. An answer is one compact JSON text;
``structuredContent`` travels only with an advertised output schema (``output_schemas=True``), so
no answer is carried twice.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, InputRequiredResult, TextContent, ToolAnnotations
from mcp.types import Tool as MCPTool
from pydantic import BaseModel, Field, ValidationError

from storelink import __version__
from storelink.connectors.base import Connector, Health
from storelink.connectors.writes import is_write_allowed
from storelink.errors import MAX_MESSAGE, Mode, clip, describe_validation_error
from storelink.insights import across
from storelink.insights.across import HealthAcross, LowStockAcross, SalesAndTraffic
from storelink.mcp_server.schema import clean_schema
from storelink.mcp_server.tools import (
    StoreArg,
    StoresArg,
    caller_access,
    choose_store,
    choose_stores,
    insights_tools,
    knowledge_tools,
    operation_title,
    operation_tool,
    store_property,
    store_runtime,
)
from storelink.observability.logs import install_redaction
from storelink.runtime import Runtime, StoreDirectory, decide_mode
from storelink.settings import Settings

__all__ = ["INSTRUCTIONS", "MAX_LISTED_STORES", "StorelinkServer", "ToolDraft", "build_server", "select_tools"]

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
One server may serve several stores: `storelink_capabilities` lists those you can reach; pass
`store` (a store id) to any tool when you reach more than one ([forbidden]: not a store of yours).
`stores_sales_and_traffic`, `stores_low_stock` and `stores_health` answer for several stores at once.
"""

STATUS_TOOLS = ("storelink_capabilities", "storelink_output_schema", "connector_health", "connector_metrics")
KNOWLEDGE_TOOLS = ("search", "fetch", "site_answer")
INSIGHT_TOOLS = ("insights_seo_opportunities", "insights_inventory_signals", "insights_product_recommendations")
STORES_TOOLS = ("stores_sales_and_traffic", "stores_low_stock", "stores_health")
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
# What people see in a client's tool list for the tools that are not a connector's operation.
TITLES = {
    "storelink_capabilities": "Capabilities",
    "storelink_output_schema": "Output schema",
    "connector_health": "Source health",
    "connector_metrics": "Source metrics",
    "search": "Site search",
    "fetch": "Site page",
    "site_answer": "Site answer",
    "insights_seo_opportunities": "SEO opportunities",
    "insights_inventory_signals": "Inventory signals",
    "insights_product_recommendations": "Product recommendations",
    "stores_sales_and_traffic": "Stores: sales and traffic",
    "stores_low_stock": "Stores: low stock",
    "stores_health": "Stores: health",
}
MAX_LISTED_STORES = 50  # stores storelink_capabilities lists; `match` narrows the list


class StorelinkServer(MCPServer[Any]):
    """The SDK's server, with tool errors agents can branch on (docs/mcp.md, "Errors").

    Its tools are fixed when it is built, so it knows each one's arguments and refuses others."""

    def __init__(
        self,
        name: str,
        *,
        tools: Sequence[Tool],
        version: str,
        instructions: str,
        token_verifier: TokenVerifier | None,
        auth: AuthSettings | None,
        log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        output_schemas: bool = False,
    ) -> None:
        super().__init__(
            name,
            version=version,
            instructions=instructions,
            token_verifier=token_verifier,
            auth=auth,
            log_level=log_level,
            tools=list(tools),
        )
        self.tool_arguments: dict[str, list[str]] = {t.name: list(t.parameters.get("properties", {})) for t in tools}
        self.output_schemas = output_schemas

    async def list_tools(self) -> list[MCPTool]:
        listed = await super().list_tools()
        if self.output_schemas:
            return listed
        return [tool.model_copy(update={"output_schema": None}) for tool in listed]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        valid = self.tool_arguments.get(name)
        if valid is None:
            raise ToolError(f"[invalid_request] No tool {clip(name)!r}; tools/list shows the tools that are on.")
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
            result = await super().call_tool(name, arguments, context)
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
        return self._compact(result)

    def _compact(self, result: CallToolResult | InputRequiredResult) -> CallToolResult | InputRequiredResult:
        """One compact JSON text (the SDK indents it), and ``structuredContent`` only beside an
        advertised output schema: a client reads one or the other, never needs both."""
        if not isinstance(result, CallToolResult) or result.is_error or result.structured_content is None:
            return result
        text = json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False)
        return CallToolResult(
            content=[TextContent(type="text", text=text)],
            structured_content=result.structured_content if self.output_schemas else None,
        )


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


class StoreSummary(BaseModel):
    id: str = Field(description="What `store` takes.")
    name: str
    opened: bool = Field(description="Its sources are running in this server (else they start when a tool asks).")
    modes: dict[str, Mode] = Field(description="Each source's mode: live, mock or disabled.")
    breakers: dict[str, str] = Field(
        default_factory=dict, description="Each source's breaker state (for stores already opened)."
    )


class Capabilities(BaseModel):
    version: str
    stores: list[StoreSummary] = Field(
        description=f"The stores you can reach (at most {MAX_LISTED_STORES}; see stores_note)."
    )
    stores_note: str | None = Field(None, description="Set when stores were left out, or `store` would say more.")
    store: str | None = Field(
        None, description="The store `connectors` describes: the one asked for, or the only one you can reach."
    )
    connectors: list[ConnectorStatus] = Field(description="The sources of `store` in detail (empty without `store`).")
    tools: list[str]
    writes_enabled: list[str] = Field(description="Write tools that are on (all others are off).")


class OutputSchema(BaseModel):
    tool: str
    output_schema: dict[str, Any] = Field(description="JSON Schema (2020-12) of the tool's answer.")


class HealthReport(BaseModel):
    connectors: list[Health]


class MetricsReport(BaseModel):
    connectors: dict[str, Any] = Field(description="Per connector: rolling windows, breaker, headroom, operations.")


@dataclass(frozen=True)
class ToolDraft:
    """What one tool is made of before it is on a server: the function, its hints, the description
    (None: the function's docstring), the params model whose schema it publishes (None: the
    schema the SDK derives from the function) and its title (None: from ``TITLES``)."""

    fn: Callable[..., Any]
    annotations: ToolAnnotations
    description: str | None = None
    params: type[BaseModel] | None = None
    title: str | None = None

    def tool(self, name: str) -> Tool:
        tool = Tool.from_function(
            self.fn,
            name=name,
            title=self.title or TITLES.get(name),
            description=self.description,
            annotations=self.annotations,
        )
        # Tools over a params model publish the model's own schema (the adapter may be looser) and
        # the `store` argument the adapter adds; every schema is cleaned for strict clients.
        if self.params is not None:
            schema = self.params.model_json_schema()
            schema["properties"] = {**schema.get("properties", {}), "store": store_property()}
        else:
            schema = tool.parameters
        schema.pop("description", None)  # the params model's docstring: the tool's description says it
        tool.parameters = clean_schema(schema)
        return tool


def build_server(
    settings: Settings,
    get_stores: Callable[[], StoreDirectory],
    connector_classes: Sequence[type[Connector]],
    *,
    name: str = "storelink",
    token_verifier: TokenVerifier | None = None,
    auth: AuthSettings | None = None,
    output_schemas: bool = False,
) -> StorelinkServer:
    """The MCP server of the tools ``STORELINK_MCP_TOOLS`` selects, in the order tools/list shows;
    ``output_schemas`` advertises every tool's output schema (and answers with structured content)."""
    per_connector = connector_tools(settings, get_stores, connector_classes)
    operations = {tool: draft for drafts in per_connector.values() for tool, draft in drafts.items()}
    enabled = select_tools(
        [*STATUS_TOOLS, *KNOWLEDGE_TOOLS, *INSIGHT_TOOLS, *STORES_TOOLS, *operations], settings.mcp_tools
    )
    schemas: dict[str, dict[str, Any] | None] = {}
    drafts = {
        **status_tools(settings, get_stores, connector_classes, per_connector, enabled, schemas),
        **site_tools(get_stores, enabled),
        **stores_tools(get_stores),
        **operations,
    }
    tools = [drafts[tool].tool(tool) for tool in enabled]
    schemas.update({tool.name: tool.output_schema for tool in tools})
    server = StorelinkServer(
        name,
        tools=tools,
        version=__version__,
        instructions=INSTRUCTIONS,
        token_verifier=token_verifier,
        auth=auth,
        log_level=settings.log_level,
        output_schemas=output_schemas,
    )
    install_redaction(settings)  # the SDK may have added a log handler of its own
    return server


def connector_tools(
    settings: Settings, get_stores: Callable[[], StoreDirectory], connector_classes: Sequence[type[Connector]]
) -> dict[str, dict[str, ToolDraft]]:
    """Per connector, its ``<connector>_<operation>`` tools; write operations only when
    ``STORELINK_ALLOW_WRITES`` names them."""
    per_connector: dict[str, dict[str, ToolDraft]] = {}
    for cls in connector_classes:
        for spec in cls.operations.values():
            if spec.write and not is_write_allowed(settings.allow_writes, cls.name, spec.name):
                continue
            fn, description, annotations = operation_tool(cls.name, spec, get_stores)
            drafts = per_connector.setdefault(cls.name, {})
            title = operation_title(cls.name, cls.title, spec)
            drafts[f"{cls.name}_{spec.name}"] = ToolDraft(fn, annotations, description, spec.params, title)
    return per_connector


def status_tools(
    settings: Settings,
    get_stores: Callable[[], StoreDirectory],
    connector_classes: Sequence[type[Connector]],
    per_connector: dict[str, dict[str, ToolDraft]],
    enabled: list[str],
    schemas: dict[str, dict[str, Any] | None],
) -> dict[str, ToolDraft]:
    """``storelink_capabilities`` (which reports the ``enabled`` tools), ``storelink_output_schema``
    (over ``schemas``, every enabled tool's output schema, filled once the tools are built),
    ``connector_health`` and ``connector_metrics``."""
    on = set(enabled)
    writes = {t for drafts in per_connector.values() for t, d in drafts.items() if d.annotations.destructive_hint}

    async def summary(directory: StoreDirectory, store_id: str, opened: set[str]) -> StoreSummary:
        config = directory.config(store_id)
        if store_id not in opened:  # from its settings: a store is not opened to be listed
            modes = {
                cls.name: decide_mode(cls, config.connector(cls.name), force_mocks=settings.mcp_force_mocks)[0]
                for cls in connector_classes
            }
            return StoreSummary(id=store_id, name=config.name, opened=False, modes=modes)
        runtime = await directory.runtime(store_id)
        return StoreSummary(
            id=store_id,
            name=config.name,
            opened=True,
            modes={c.name: c.mode for c in runtime.registry},
            breakers={c.name: c.breaker.state.value for c in runtime.registry},
        )

    async def storelink_capabilities(
        store: StoreArg = None,
        match: Annotated[
            str | None, Field(description="List only the stores whose id or name contains this (any case).")
        ] = None,
    ) -> Capabilities:
        """What storelink can reach right now: the stores you can reach (each source's mode), and
        for one store (`store`, or the only one you reach) each source in detail: mode, breaker,
        what it lacks for live mode, which tools are on. Call this first."""
        directory = get_stores()
        reachable = caller_access().reachable(directory.ids())
        chosen = choose_store(directory, store) if store is not None or len(reachable) == 1 else None
        listed = reachable
        if match is not None:
            needle = match.casefold()
            listed = [s for s in reachable if needle in s.casefold() or needle in directory.config(s).name.casefold()]
        notes = []
        if len(listed) > MAX_LISTED_STORES:
            notes.append(
                f"Showing {MAX_LISTED_STORES} of {len(listed)} stores; pass `match` (part of a store's id or "
                "name) to narrow the list."
            )
        if chosen is None and reachable:
            notes.append("Pass `store` for one store's sources in detail.")
        if not reachable:
            notes.append("This credential reaches none of this deployment's stores.")
        opened = set(directory.opened())
        connectors: list[ConnectorStatus] = []
        if chosen is not None:
            runtime = await store_runtime(get_stores, chosen)
            connectors = [
                ConnectorStatus(
                    name=c.name,
                    title=c.title,
                    mode=c.mode,
                    breaker=c.breaker.state.value,
                    missing=c.ctx.missing,
                    tools=[t for t in per_connector.get(c.name, {}) if t in on],
                )
                for c in runtime.registry
            ]
            opened.add(chosen)
        return Capabilities(
            version=__version__,
            stores=[await summary(directory, s, opened) for s in listed[:MAX_LISTED_STORES]],
            stores_note=" ".join(notes) or None,
            store=chosen,
            connectors=connectors,
            tools=enabled,
            writes_enabled=[t for t in enabled if t in writes],
        )

    async def storelink_output_schema(
        tool: Annotated[str, Field(description="A tool's name, e.g. gsc_search_analytics.")],
    ) -> OutputSchema:
        """The JSON Schema of a tool's answer (field names, types, descriptions), which tools/list
        leaves out to stay small. Every answer is JSON that conforms to it."""
        if tool not in schemas:
            raise ToolError(
                f"[invalid_request] tool: no tool {clip(tool)!r} is on; storelink_capabilities lists those that are."
            )
        return OutputSchema(tool=tool, output_schema=schemas[tool] or {})

    async def connector_health(ctx: Context, connector: str | None = None, store: StoreArg = None) -> HealthReport:
        """Probe one source (or all) with a cheap call and report ok / degraded / down / disabled,
        the breaker state and what is wrong. `connector`: e.g. "shopify"; omit for all."""
        runtime = await store_runtime(get_stores, store)
        targets = list(runtime.registry) if connector is None else [_connector(runtime, connector)]
        return HealthReport(connectors=[await c.health() for c in targets])

    async def connector_metrics(connector: str | None = None, store: StoreArg = None) -> MetricsReport:
        """Error rate and latency percentiles (1 m, 5 m, 1 h), retries, throttles, cache hits,
        breaker state and rate-limit headroom per source. `connector`: omit for all."""
        snapshot = (await store_runtime(get_stores, store)).metrics.snapshot()["connectors"]
        if connector is not None:
            snapshot = {connector: snapshot.get(connector, {})}
        return MetricsReport(connectors=snapshot)

    return {
        fn.__name__: ToolDraft(fn, READ_ONLY)
        for fn in (storelink_capabilities, storelink_output_schema, connector_health, connector_metrics)
    }


def stores_tools(get_stores: Callable[[], StoreDirectory]) -> dict[str, ToolDraft]:
    """The answers across stores (read-only): each store answers for itself, a store that fails is
    named in ``failed`` and the others still answer; ``stores`` defaults to every store the caller
    reaches, and one out of reach refuses the whole call."""

    async def stores_sales_and_traffic(
        days: Annotated[int, Field(ge=1, le=366, description="The last N whole days, ending yesterday.")] = 7,
        stores: StoresArg = None,
    ) -> SalesAndTraffic:
        """Sales (Shopify: orders, units, gross) and traffic (GA4: sessions, users, conversions)
        of several stores side by side, each over its own last `days` days."""
        directory = get_stores()
        return await across.sales_and_traffic(directory, choose_stores(directory, stores), days=days)

    async def stores_low_stock(
        limit: Annotated[int, Field(ge=1, le=200, description="Rows to return, across all the stores.")] = 20,
        stores: StoresArg = None,
    ) -> LowStockAcross:
        """Stock-out risks of several stores within their lead time, ranked together by revenue at risk."""
        directory = get_stores()
        return await across.low_stock_across(directory, choose_stores(directory, stores), limit=limit)

    async def stores_health(stores: StoresArg = None) -> HealthAcross:
        """Every source of several stores, probed with a cheap call: ok / degraded / down / disabled."""
        directory = get_stores()
        return await across.health_across(directory, choose_stores(directory, stores))

    annotations = ToolAnnotations(read_only_hint=True, open_world_hint=True)
    return {
        fn.__name__: ToolDraft(fn, annotations) for fn in (stores_sales_and_traffic, stores_low_stock, stores_health)
    }


def site_tools(get_stores: Callable[[], StoreDirectory], enabled: list[str]) -> dict[str, ToolDraft]:
    """The site-knowledge tools (``search``, ``fetch``, ``site_answer``) and the insights; each
    group only when one of its tools is on, since building them loads the retrieval stack."""
    on = set(enabled)
    built = knowledge_tools(get_stores) if on & set(KNOWLEDGE_TOOLS) else {}
    built.update(insights_tools(get_stores) if on & set(INSIGHT_TOOLS) else {})
    return {
        tool: ToolDraft(fn, ToolAnnotations(read_only_hint=True, open_world_hint=True), description, params)
        for tool, (fn, description, params) in built.items()
    }


def _connector(runtime: Runtime, name: str) -> Connector:
    if name not in runtime.registry.names():
        raise ToolError(
            f"[invalid_request] connector: no source {clip(name)!r}; sources: {', '.join(runtime.registry.names())}."
        )
    return runtime.registry.get(name)
