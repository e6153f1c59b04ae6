"""The executor: runs a validated, planned operation over the views and tallies its actual cost.

Speed: graphql-core parses and validates (cached per query string) and coerces values; a small
executor in this module runs the validated operation over pre-rendered, cached dict views. It
follows graphql-core's semantics (null propagation, error paths, abstract types; a test compares
the two) and is four to five times faster: a 50-node page takes about 1.5 ms here against 6.5 ms,
which the 5 ms budget per query needed. Introspection goes to graphql-core's executor, which uses
the same resolvers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graphql import (
    GraphQLAbstractType,
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    SelectionSetNode,
    located_error,
)

from storelink.fakes.shopify.cost import _weights
from storelink.fakes.shopify.formats import Json
from storelink.fakes.shopify.planner import _Field, _Planner


class _Null(Exception):
    """A non-null field resolved to null: the nearest nullable ancestor becomes null."""


_Path = tuple[Any, str | int] | None  # a cons list, built only as far as it is walked


def _path_list(path: _Path) -> list[str | int]:
    keys: list[str | int] = []
    while path is not None:
        path, key = path
        keys.append(key)
    return keys[::-1]


class _Executor:
    """Runs a validated operation; tallies the actual cost as it completes objects."""

    def __init__(self, planner: _Planner) -> None:
        self.planner = planner
        self.schema = planner.schema
        self.errors: list[GraphQLError] = []
        self.cost = 0
        self._weights = _weights()

    def run(self, root_type: GraphQLObjectType, selection_set: SelectionSetNode) -> Json | None:
        fields = self.planner.root_fields(root_type, selection_set)
        try:
            return self._object(root_type, fields, None, None)
        except _Null:
            return None

    def _object(self, type_: GraphQLObjectType, fields: list[_Field], source: Any, path: _Path) -> Json:
        self.cost += self._weights.get(type_.name, 1)
        return {f.key: self._field(type_, f, source, (path, f.key)) for f in fields}

    def _field(self, type_: GraphQLObjectType, f: _Field, source: Any, path: _Path) -> Any:
        definition = f.definition
        if definition is None:
            return type_.name
        try:
            resolve = definition.resolve
            if resolve is not None:
                value = resolve(source, f.info, **f.args)
            else:
                value = source.get(f.name) if type(source) is dict else getattr(source, f.name, None)
                if callable(value):
                    value = value(f.info, **f.args)
        except GraphQLError as exc:
            self.errors.append(located_error(exc, list(f.nodes), _path_list(path)))
            if isinstance(definition.type, GraphQLNonNull):
                raise _Null from exc
            return None
        if f.leaf is not None and value is not None:  # the common case, kept short
            return f.leaf.serialize(value)
        try:
            return self._complete(definition.type, f, value, path)
        except _Null:
            if isinstance(definition.type, GraphQLNonNull):
                raise
            return None

    def _complete(self, type_: GraphQLOutputType, f: _Field, value: Any, path: _Path) -> Any:
        if isinstance(type_, GraphQLNonNull):
            completed = self._complete(type_.of_type, f, value, path)
            if completed is None:
                message = f"Cannot return null for non-nullable field {f.parent}.{f.name}."
                self.errors.append(GraphQLError(message, list(f.nodes), path=_path_list(path)))
                raise _Null
            return completed
        if value is None:
            return None
        if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
            return type_.serialize(value)
        if isinstance(type_, GraphQLList):
            return self._list(type_.of_type, f, value, path)
        if isinstance(type_, GraphQLObjectType):
            return self._object(type_, self.planner.sub_fields(type_, f), value, path)
        runtime = self._runtime_type(type_, value)
        return self._object(runtime, self.planner.sub_fields(runtime, f), value, path)

    def _list(self, item_type: GraphQLOutputType, f: _Field, values: Iterable[Any], path: _Path) -> list[Any]:
        if isinstance(item_type, GraphQLNonNull):
            return [self._complete(item_type, f, v, (path, i)) for i, v in enumerate(values)]
        items: list[Any] = []
        for i, v in enumerate(values):
            try:
                items.append(self._complete(item_type, f, v, (path, i)))
            except _Null:
                items.append(None)
        return items

    def _runtime_type(self, abstract: GraphQLAbstractType, value: Any) -> GraphQLObjectType:
        name = value.get("__typename") if isinstance(value, dict) else None
        runtime = self.schema.get_type(name) if isinstance(name, str) else None
        if not isinstance(runtime, GraphQLObjectType) or not self.schema.is_sub_type(abstract, runtime):
            raise GraphQLError(f"Abstract type {abstract.name} must resolve to an object type.")
        return runtime
