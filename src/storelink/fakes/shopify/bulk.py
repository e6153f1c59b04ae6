"""Bulk operations (``shared/reference/api-facts.md`` 1.7): the operation's record, Shopify's rules
for a bulk query (one connection at least, at most five, nesting at most two connections deep, no
top-level ``node``/``nodes``, parents of nested connections select ``id``), the JSONL result with
children on their own lines carrying ``__parentId`` after their parent, and ``userErrors``.

The lifecycle, driven by status reads, is the fake's (``ShopifyFake.start_bulk`` and ``bulk_view``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from graphql import GraphQLObjectType, SelectionSetNode

from storelink.fakes.shopify.formats import Json
from storelink.fakes.shopify.planner import _Field, _Planner


@dataclass
class _BulkOperation:
    id: int
    app: str
    query: str
    created_at: datetime
    jsonl: bytes
    objects: int
    roots: int
    status: str = "CREATED"
    polls: int = 0
    completed_at: datetime | None = None


def _bulk_problem(planner: _Planner, root: GraphQLObjectType, selection_set: SelectionSetNode) -> str | None:
    """Why Shopify would refuse this bulk query (None: it is fine)."""
    fields = planner.root_fields(root, selection_set)
    if any(f.name in ("node", "nodes") for f in fields):
        return "Bulk queries cannot contain a top level `node` or `nodes` field."
    connections: list[tuple[str, int]] = []
    missing_ids: list[str] = []
    _walk_connections(planner, root, fields, 0, connections, missing_ids)
    if not connections:
        return "Bulk queries must contain at least one connection."
    if len(connections) > 5:
        return f"Bulk queries cannot contain more than 5 connections (found {len(connections)})."
    if max(depth for _, depth in connections) > 2:
        return "Bulk queries cannot contain connections nested more than 2 levels deep."
    if missing_ids:
        return (
            "The parent 'node' field for a nested connection must select the 'id' field without an alias "
            f"and must be of 'ID' return type. Connection fields without 'id': {', '.join(missing_ids)}."
        )
    return None


def _walk_connections(
    planner: _Planner,
    type_: GraphQLObjectType,
    fields: list[_Field],
    depth: int,
    found: list[tuple[str, int]],
    missing_ids: list[str],
) -> None:
    for f in fields:
        named = f.named
        if not isinstance(named, GraphQLObjectType):
            continue
        if named.name.endswith("Connection"):
            found.append((f.name, depth + 1))
            for item_type, item_field in _connection_item_fields(planner, named, f):
                item_fields = planner.sub_fields(item_type, item_field)
                nested: list[tuple[str, int]] = []
                _walk_connections(planner, item_type, item_fields, depth + 1, nested, missing_ids)
                if nested and not any(x.key == "id" and x.name == "id" for x in item_fields):
                    missing_ids.extend(name for name, d in nested if d == depth + 2)
                found.extend(nested)
        else:
            _walk_connections(planner, named, planner.sub_fields(named, f), depth, found, missing_ids)


def _connection_item_fields(
    planner: _Planner, connection: GraphQLObjectType, f: _Field
) -> Iterator[tuple[GraphQLObjectType, _Field]]:
    """The fields that hold a connection's items: ``nodes``, or ``node`` inside ``edges``."""
    for cf in planner.sub_fields(connection, f):
        if cf.name == "nodes":
            yield cast(GraphQLObjectType, cf.named), cf
        elif cf.name == "edges":
            edge = cast(GraphQLObjectType, cf.named)
            for ef in planner.sub_fields(edge, cf):
                if ef.name == "node":
                    yield cast(GraphQLObjectType, ef.named), ef


def _connection_items(
    planner: _Planner, connection: GraphQLObjectType, f: _Field, value: Json
) -> Iterator[tuple[GraphQLObjectType, _Field, Json]]:
    for cf in planner.sub_fields(connection, f):
        if cf.name == "nodes":
            item_type = cast(GraphQLObjectType, cf.named)
            yield from ((item_type, cf, item) for item in value.get(cf.key) or ())
        elif cf.name == "edges":
            edge = cast(GraphQLObjectType, cf.named)
            for ef in planner.sub_fields(edge, cf):
                if ef.name == "node":
                    item_type = cast(GraphQLObjectType, ef.named)
                    yield from ((item_type, ef, e[ef.key]) for e in value.get(cf.key) or ())


def _jsonl(planner: _Planner, root: GraphQLObjectType, selection_set: SelectionSetNode, data: Json) -> list[Json]:
    """Flatten a bulk result: each connection item on its own line, children after their parent."""
    lines: list[Json] = []
    for f in planner.root_fields(root, selection_set):
        named = f.named
        value = data.get(f.key)
        if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection") and value:
            _emit(planner, named, f, value, None, lines)
    return lines


def _emit(
    planner: _Planner, connection: GraphQLObjectType, f: _Field, value: Json, parent: str | None, out: list[Json]
) -> None:
    for item_type, item_field, item in _connection_items(planner, connection, f, value):
        line, nested = _strip(planner, item_type, item_field, item)
        if parent is not None:
            line["__parentId"] = parent
        out.append(line)
        for child_type, child_field, child in nested:
            _emit(planner, child_type, child_field, child, item.get("id"), out)


def _strip(
    planner: _Planner, type_: GraphQLObjectType, f: _Field, item: Json
) -> tuple[Json, list[tuple[GraphQLObjectType, _Field, Json]]]:
    """An item without its nested connections (returned apart, to become lines of their own)."""
    line: Json = {}
    nested: list[tuple[GraphQLObjectType, _Field, Json]] = []
    for sf in planner.sub_fields(type_, f):
        value = item.get(sf.key)
        named = sf.named
        if isinstance(named, GraphQLObjectType) and named.name.endswith("Connection"):
            if value:
                nested.append((named, sf, value))
        elif isinstance(named, GraphQLObjectType) and isinstance(value, dict):
            line[sf.key], deeper = _strip(planner, named, sf, value)
            nested.extend(deeper)
        else:
            line[sf.key] = value
    return line, nested


def _bulk_error(message: str, code: str, field_path: list[str] | None = None) -> Json:
    return {
        "bulkOperation": None,
        "userErrors": [
            {"field": field_path if field_path is not None else ["query"], "message": message, "code": code}
        ],
    }
