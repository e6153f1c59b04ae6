"""One thin, typed adapter per connector operation: ``<connector>_<operation>``.

The adapter's signature is the operation's params model, field by field, plus ``store``, so the
SDK derives the input schema (with descriptions) from it; its return type is
``ToolResult[Result]``, so the SDK publishes an output schema and validates every result against
it. The adapter does four things: picks the store, forwards progress, calls the connector, and
bounds the output. Errors become ``ToolError`` whose text leads with the error kind, so an agent
can branch on it.

Which store a call is for, as far as the caller may reach: the caller's reach comes with its
credential, through the SDK's auth context (``get_access_token()``): a verified token's ``store:``
scopes (an OAuth JWT's own, a keys-file key's from its entry, ``store:*`` for ``MCP_API_KEY``
when OAuth is on); no token at all (stdio, the in-memory client, ``MCP_API_KEY`` alone, loopback
without a key) reaches every store. :mod:`storelink.access` decides (:func:`caller_access`,
:func:`choose_store`, :func:`choose_stores`); its refusals are the usual ``[kind] message`` errors.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import principal_components
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field, ValidationError

from storelink.access import EVERY_STORE, StoreAccess, access_from_scopes
from storelink.connectors.base import OperationSpec
from storelink.connectors.progress import progress_listener
from storelink.connectors.writes import LOCAL_CALLER, calling_as
from storelink.errors import ConnectorError, Envelope, ErrorKind, Meta, describe_validation_error
from storelink.keys import KEYS_ISSUER
from storelink.mcp_server.auth import WRITE_SCOPE
from storelink.runtime import Runtime, StoreDirectory

__all__ = [
    "MAX_OUTPUT_BYTES",
    "STORES_DESCRIPTION",
    "STORE_DESCRIPTION",
    "StoreArg",
    "StoresArg",
    "ToolResult",
    "bound_output",
    "caller_access",
    "caller_identity",
    "choose_store",
    "choose_stores",
    "describe_error",
    "give_signature",
    "insights_tools",
    "knowledge_tools",
    "model_tools",
    "operation_tool",
    "store_property",
    "store_runtime",
]

T = TypeVar("T")

STORE_DESCRIPTION = "Store id (storelink_capabilities lists yours); omit when you can reach only one"
STORES_DESCRIPTION = "Store ids (storelink_capabilities lists yours); omit for every store you can reach"

StoreArg = Annotated[str | None, Field(description=STORE_DESCRIPTION)]
StoresArg = Annotated[list[str] | None, Field(description=STORES_DESCRIPTION)]

# What one tool result may weigh. ~100 kB of JSON is ~25k tokens: past that, agents lose the
# thread; the cursor fetches more.
MAX_OUTPUT_BYTES = 100_000


class ToolResult(BaseModel, Generic[T]):
    """A tool's structured result: the operation's data, how it was obtained, and a note when
    the output was cut to stay within bounds."""

    data: T
    meta: Meta
    note: str | None = Field(None, description="Set when the result was cut; says how to get the rest.")


def describe_error(err: ConnectorError) -> str:
    """The text an agent reads: the kind first (to branch on), then what to do."""
    text = f"[{err.kind.value}] {err.message}"
    if err.retry_after_s is not None:
        text += f" (retry after {err.retry_after_s:.1f} s)"
    if err.request_id:
        text += f" (request id {err.request_id})"
    return text


def bound_output(result: ToolResult[Any], max_bytes: int = MAX_OUTPUT_BYTES) -> ToolResult[Any]:
    """Cut the longest list in ``data`` until the JSON fits, and say so in ``note``."""
    size = len(result.model_dump_json())
    if size <= max_bytes:
        return result
    data = result.data
    found = _longest_list(data)
    if found is None:
        return result
    owner, attribute, items = found
    keep = len(items)
    while keep > 1 and size > max_bytes:
        keep = max(1, int(keep * max_bytes / size * 0.9))
        setattr(owner, attribute, items[:keep])
        size = len(result.model_dump_json())
    if hasattr(data, "truncated"):
        data.truncated = True
    result.note = (
        f"Output cut to {keep} of {len(items)} items to stay under {max_bytes // 1000} kB; "
        "ask for a smaller `limit`, narrow the query, or continue with the cursor."
    )
    return result


def _longest_list(data: Any) -> tuple[Any, str, list[Any]] | None:
    if not isinstance(data, BaseModel):
        return None
    best: tuple[Any, str, list[Any]] | None = None
    for name in type(data).model_fields:
        value = getattr(data, name)
        if isinstance(value, list) and (
            best is None or len(json.dumps(value, default=str)) > len(json.dumps(best[2], default=str))
        ):
            best = (data, name, value)
    return best


def _fields_with_before_validators(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for decorator in model.__pydantic_decorators__.field_validators.values():
        if decorator.info.mode in ("before", "wrap", "plain"):
            names.update(decorator.info.fields)
    return names


def give_signature(tool: Callable[..., Any], params: type[BaseModel], result_type: Any) -> None:
    """Make ``tool(ctx, store, **arguments)`` look to the SDK like a function of ``params``'
    fields and ``store`` (last; a params model must not have a field of that name).

    The adapter's own validation must accept all the params model accepts: each field keeps its
    metadata (validators, constraints), and fields with model-level "before" validators (e.g.
    "-sessions" accepted for a list) are left to the params model, which validates every call."""
    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    loose = _fields_with_before_validators(params)
    for name, field in params.model_fields.items():
        default: Any = field
        if name in loose:
            # Passed through untouched: the field's constraints (min_length …) would meet values its
            # own before-validator has not seen yet, and crash on them (len(None)).
            annotation: Any = Any
            default = Field(default_factory=field.default_factory) if field.default_factory else Field(field.default)
        elif field.metadata:
            annotation = Annotated[(field.annotation, *field.metadata)]
        else:
            annotation = field.annotation
        parameters.append(
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        )
    if "store" in params.model_fields:
        raise TypeError(f"{params.__name__} has a field `store`, which tools keep for the store a call is for")
    parameters.append(inspect.Parameter("store", inspect.Parameter.KEYWORD_ONLY, annotation=StoreArg, default=None))
    tool.__signature__ = inspect.Signature(parameters, return_annotation=result_type)  # type: ignore[attr-defined]
    tool.__annotations__ = {"ctx": Context, "return": result_type}


ModelTool = tuple[Callable[..., Awaitable[Any]], str, type[BaseModel]]
Entry = tuple[Callable[..., Awaitable[Any]], type[BaseModel], Any]


def model_tools(entries: dict[str, Entry], subject: Callable[[str | None], Awaitable[Any]]) -> dict[str, ModelTool]:
    """Tools over library functions ``f(subject, params) -> result``: the params model's fields
    and ``store`` are the tool's arguments; ``subject(store)`` gives the first argument (the store's
    runtime, its knowledge base), before the params are checked."""
    built: dict[str, ModelTool] = {}
    for name, (function, params_model, result_type) in entries.items():

        async def tool(
            ctx: Context,
            _function: Callable[..., Awaitable[Any]] = function,
            _params: type[BaseModel] = params_model,
            store: str | None = None,
            **arguments: Any,
        ) -> Any:
            try:
                target = await subject(store)  # the store first: a refused one learns nothing more
                params = _params.model_validate(arguments)
                return await _function(target, params)
            except ValidationError as exc:
                raise ToolError(
                    f"[invalid_request] {describe_validation_error(exc, allowed=_params.model_fields)}"
                ) from None
            except ConnectorError as err:
                raise ToolError(describe_error(err)) from None

        give_signature(tool, params_model, result_type)
        tool.__name__ = name
        built[name] = (tool, " ".join((function.__doc__ or name).split()), params_model)
    return built


def store_property() -> dict[str, Any]:
    """The ``store`` argument as a tool schema publishes it (before ``clean_schema``), the same
    whether the schema comes from the tool's function or from a connector's params model."""
    prop: dict[str, Any] = _StoreParam.model_json_schema()["properties"]["store"]
    return prop


class _StoreParam(BaseModel):
    store: StoreArg = None


def caller_access() -> StoreAccess:
    """The stores the current caller may reach."""
    token = get_access_token()
    return EVERY_STORE if token is None else access_from_scopes(token.scopes)


def choose_store(directory: StoreDirectory, store: str | None) -> str:
    """The store a call is for (``store``, or the only one the caller reaches), else a tool error:
    ``forbidden`` for a store out of reach, whether or not it exists."""
    try:
        return caller_access().choose(directory.ids(), store)
    except ConnectorError as err:
        raise ToolError(describe_error(err)) from None


def choose_stores(directory: StoreDirectory, stores: Sequence[str] | None) -> list[str]:
    """The stores a cross-store call is for: every store the caller reaches when ``stores`` is
    None, else each one named (in order, once). One out of reach is ``forbidden`` for the whole
    call, never dropped silently."""
    access = caller_access()
    ids = directory.ids()
    try:
        if stores is None:
            reachable = access.reachable(ids)
            if not reachable:
                access.choose(ids, None)  # raises: this credential reaches none of them
            return reachable
        if not stores:
            raise ConnectorError(
                ErrorKind.INVALID_REQUEST,
                "`stores` is empty: name at least one store, or leave it out for every store you can reach.",
                retryable=False,
            )
        return list(dict.fromkeys(access.choose(ids, store) for store in stores))
    except ConnectorError as err:
        raise ToolError(describe_error(err)) from None


async def store_runtime(get_stores: Callable[[], StoreDirectory], store: str | None) -> Runtime:
    """The runtime of the store a call is for (opened on first use)."""
    directory = get_stores()
    store_id = choose_store(directory, store)
    try:
        return await directory.runtime(store_id)
    except ConnectorError as err:
        raise ToolError(describe_error(err)) from None


def knowledge_tools(get_stores: Callable[[], StoreDirectory]) -> dict[str, ModelTool]:
    """``search``, ``fetch`` and ``site_answer`` over the store's website (site knowledge)."""
    from storelink.rag import tools as rag
    from storelink.rag.models import Answer

    async def knowledge(store: str | None) -> Any:
        return await (await store_runtime(get_stores, store)).knowledge()

    return model_tools(
        {
            "search": (rag.search, rag.SearchParams, rag.SearchResults),
            "fetch": (rag.fetch, rag.FetchParams, rag.PageText),
            "site_answer": (rag.site_answer, rag.SiteAnswerParams, Answer),
        },
        knowledge,
    )


def insights_tools(get_stores: Callable[[], StoreDirectory]) -> dict[str, ModelTool]:
    """The cross-source views: SEO opportunities, inventory signals, product recommendations."""
    from storelink.insights import models as im
    from storelink.insights import tools as insights

    async def runtime(store: str | None) -> Any:
        return await store_runtime(get_stores, store)

    return model_tools(
        {
            "insights_seo_opportunities": (insights.seo_opportunities, im.SeoParams, im.SeoResult),
            "insights_inventory_signals": (insights.inventory_signals, im.InventoryParams, im.InventoryResult),
            "insights_product_recommendations": (
                insights.product_recommendations,
                im.RecommendationParams,
                im.RecommendationResult,
            ),
        },
        runtime,
    )


def caller_identity(ctx: Context) -> str:
    """Who is calling, for scoping idempotency keys and the audit log: a keys-file key's name
    (``key:<name>``); a token's principal (issuer, client, subject); over HTTP without a token,
    whoever holds MCP_API_KEY (or reaches loopback); over stdio or in memory, the local user."""
    access = get_access_token()
    if access is not None and (access.claims or {}).get("iss") == KEYS_ISSUER:
        return f"key:{access.client_id}"
    if access is not None:
        client_id, issuer, subject = principal_components(access)
        return json.dumps(["token", issuer, client_id, subject])
    if ctx.request_context.request is not None:
        return "http"
    return LOCAL_CALLER


def operation_tool(
    connector: str, spec: OperationSpec, get_stores: Callable[[], StoreDirectory]
) -> tuple[Callable[..., Awaitable[Any]], str, ToolAnnotations]:
    """Build the adapter function, its description and its annotations for one operation."""

    async def tool(ctx: Context, store: str | None = None, **arguments: Any) -> ToolResult[Any]:
        if spec.write:
            access = get_access_token()  # None over stdio, in-memory, or with the static key
            if access is not None and WRITE_SCOPE not in access.scopes:
                raise ToolError(f"[forbidden] This tool writes; the access token needs the {WRITE_SCOPE} scope.")
        runtime = await store_runtime(get_stores, store)

        async def forward(done: float, total: float | None, message: str) -> None:
            await ctx.report_progress(done, total, message)

        token = progress_listener.set(forward)
        try:
            with calling_as(caller_identity(ctx)):
                envelope: Envelope[Any] = await runtime.registry.get(connector).call(spec.name, arguments)
        except ConnectorError as err:
            raise ToolError(describe_error(err)) from None
        finally:
            progress_listener.reset(token)
        return bound_output(ToolResult[Any](data=envelope.data, meta=envelope.meta))

    result_type = ToolResult[spec.result]  # type: ignore[name-defined]
    give_signature(tool, spec.params, result_type)
    tool.__name__ = f"{connector}_{spec.name}"
    annotations = ToolAnnotations(
        title=f"{connector}: {spec.summary}",
        read_only_hint=not spec.write,
        destructive_hint=spec.write,
        idempotent_hint=not spec.write,
        open_world_hint=True,
    )
    description = spec.description or spec.summary
    if spec.example:
        description += f"\n\nExample arguments: {json.dumps(spec.example)}"
    return tool, description, annotations
