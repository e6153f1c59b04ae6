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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import NoneType, UnionType
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import principal_components
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, BeforeValidator, Field, ValidationError

from storelink.access import EVERY_STORE, StoreAccess, access_from_scopes
from storelink.connectors.base import OperationSpec
from storelink.connectors.paging import Paging
from storelink.connectors.progress import progress_listener
from storelink.connectors.writes import LOCAL_CALLER, calling_as
from storelink.errors import ConnectorError, Envelope, ErrorKind, Meta, describe_validation_error
from storelink.keys import KEYS_ISSUER
from storelink.mcp_server.auth import WRITE_SCOPE
from storelink.runtime import Runtime, StoreDirectory

__all__ = [
    "DEFAULT_OUTPUT_BYTES",
    "MAX_OUTPUT_BYTES",
    "STORES_DESCRIPTION",
    "STORE_DESCRIPTION",
    "StoreArg",
    "StoresArg",
    "ToolResult",
    "answer_bytes",
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
AnswerT = TypeVar("AnswerT", bound=BaseModel)

STORE_DESCRIPTION = "Store id, when you reach several (storelink_capabilities lists them)"
STORES_DESCRIPTION = "Store ids (storelink_capabilities lists yours); omit for every store you can reach"

StoreArg = Annotated[str | None, Field(description=STORE_DESCRIPTION)]
StoresArg = Annotated[list[str] | None, Field(description=STORES_DESCRIPTION)]

# What one answer may weigh, as compact JSON. A default answer (the caller did not set the size
# parameter) stays under 16 kB (~4k tokens), so a first look costs little; asking for more
# explicitly allows up to ~100 kB (~25k tokens: past that, clients refuse results and agents lose
# the thread). Beyond either, the answer is cut and says how to continue.
DEFAULT_OUTPUT_BYTES = 16_000
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


def answer_bytes(result: BaseModel) -> int:
    """The size of an answer as the caller reads it: compact JSON, UTF-8."""
    return len(result.model_dump_json().encode())


def bound_output(
    result: AnswerT, params: type[BaseModel] | None = None, arguments: Mapping[str, Any] | None = None
) -> AnswerT:
    """Cut the longest list of the answer's data until the answer fits its budget
    (``DEFAULT_OUTPUT_BYTES`` with the size parameter at its default, else ``MAX_OUTPUT_BYTES``),
    and say how to get the rest, in the operation's own parameter names (the params model's
    ``paging``; a bare ``limit`` counts as its size). The saying goes in ``note`` (a
    :class:`ToolResult`) or at the end of ``notes`` (an insight's answer)."""
    arguments = arguments or {}
    paging: Paging | None = getattr(params, "paging", None)
    if paging is None and params is not None and "limit" in params.model_fields:
        paging = Paging(size="limit")
    # Asked for a size of its own (the SDK hands over every argument, defaults included).
    explicit = (
        params is not None
        and paging is not None
        and paging.size is not None
        and arguments.get(paging.size, params.model_fields[paging.size].default)
        != params.model_fields[paging.size].default
    )
    budget = MAX_OUTPUT_BYTES if explicit else DEFAULT_OUTPUT_BYTES
    size = answer_bytes(result)
    if size <= budget:
        return result
    data = result.data if isinstance(result, ToolResult) else result
    found = _longest_list(data)
    if found is None:
        return result
    owner, attribute, items = found
    keep = len(items)
    while keep > 1 and size > budget:
        keep = max(1, int(keep * budget / size * 0.9))
        setattr(owner, attribute, items[:keep])
        size = answer_bytes(result)
    if hasattr(data, "truncated"):
        data.truncated = True
    cut = f"Cut to {keep} of {len(items)} {attribute} to stay under {budget // 1000} kB"
    note = f"{cut}; {_how_to_continue(data, params, paging, arguments, keep, explicit)}."
    if isinstance(result, ToolResult):
        result.note = note
    elif isinstance(getattr(result, "notes", None), list):
        result.notes.append(note)  # type: ignore[attr-defined]
    return result


def _how_to_continue(
    data: Any,
    params: type[BaseModel] | None,
    paging: Paging | None,
    arguments: Mapping[str, Any],
    keep: int,
    explicit: bool,
) -> str:
    """The call that gets what was cut, and how to ask for a bigger answer."""
    if paging is None or params is None:
        return "narrow the call"
    bigger = (
        f"; set `{paging.size}` for answers up to {MAX_OUTPUT_BYTES // 1000} kB" if paging.size and not explicit else ""
    )
    if paging.position is not None:
        given = arguments.get(paging.position, params.model_fields[paging.position].default)
        following = int(given) + keep
        if paging.next_position is not None and hasattr(data, paging.next_position):
            setattr(data, paging.next_position, following)
        return f"continue with `{paging.position}`={following} (the other arguments the same){bigger}"
    if paging.cursor is not None and paging.size is not None:
        if paging.next_cursor is not None and hasattr(data, paging.next_cursor):
            setattr(data, paging.next_cursor, None)  # it pointed past the items cut off
        cursor = f"the same `{paging.cursor}`" if arguments.get(paging.cursor) else f"no `{paging.cursor}`"
        return (
            f"call again with `{paging.size}`={keep} and {cursor}: that answer's `{paging.next_cursor}` "
            "continues right after these"
        )
    fewer = [f"`{paging.size}`"] if paging.size else []
    return "narrow the call with " + ", ".join([*fewer, *(f"`{name}`" for name in paging.narrow)]) + bigger


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
        elif _is_text(field.annotation):
            # Ids look numeric (`1001`, Zoho's message ids): agents send them as JSON numbers.
            annotation = Annotated[(field.annotation, BeforeValidator(_number_as_text), *field.metadata)]
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


def _is_text(annotation: Any) -> bool:
    """``str`` or ``str | None``."""
    if annotation is str:
        return True
    if get_origin(annotation) in (Union, UnionType):
        return set(get_args(annotation)) == {str, NoneType}
    return False


def _number_as_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


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
                answer = await _function(target, params)
                return bound_output(answer, _params, arguments) if isinstance(answer, BaseModel) else answer
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


# How a client's tool list names each source: short, as people say them.
SOURCE_NAMES = {"ga4": "GA4", "gsc": "Search Console", "bing": "Bing", "zoho": "Zoho Mail", "shopify": "Shopify"}


def operation_title(connector: str, connector_title: str, spec: OperationSpec) -> str:
    """A short name people see in a client's tool list ("Shopify: list orders"); the description
    says the rest."""
    return f"{SOURCE_NAMES.get(connector, connector_title)}: {spec.name.replace('_', ' ')}"


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
        return bound_output(ToolResult[Any](data=envelope.data, meta=envelope.meta), spec.params, arguments)

    result_type = ToolResult[spec.result]  # type: ignore[name-defined]
    give_signature(tool, spec.params, result_type)
    tool.__name__ = f"{connector}_{spec.name}"
    # destructive and idempotent mean something only for a tool that writes (MCP: ToolAnnotations).
    annotations = ToolAnnotations(
        read_only_hint=not spec.write,
        destructive_hint=True if spec.write else None,
        idempotent_hint=False if spec.write else None,
        open_world_hint=True,
    )
    description = inspect.cleandoc(spec.description) if spec.description else spec.summary
    if spec.example:
        description += f"\n\nExample arguments: {json.dumps(spec.example)}"
    return tool, description, annotations
