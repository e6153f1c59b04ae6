"""The schema: an SDL subset of the 2026-10 Admin API (``schema.graphql`` beside this module) with
the resolvers attached, and each query string parsed and validated once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    build_schema,
    parse,
    validate,
)

from storelink.fakes.shopify.resolvers import _RESOLVERS


@lru_cache(maxsize=1)
def _schema() -> GraphQLSchema:
    """Build the schema once and attach the resolvers of every non-trivial field to it."""
    sdl = (files("storelink.fakes.shopify") / "schema.graphql").read_text(encoding="utf-8")
    schema = build_schema(sdl)
    for (type_name, field_name), resolver in _RESOLVERS.items():
        owner = schema.get_type(type_name)
        assert isinstance(owner, GraphQLObjectType), type_name
        owner.fields[field_name].resolve = resolver
    return schema


@dataclass(frozen=True, slots=True)
class _Prepared:
    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]
    fragments: Mapping[str, FragmentDefinitionNode]


@lru_cache(maxsize=512)
def _prepare(query: str) -> _Prepared:
    """Parse and validate once per query string: clients send the same few queries over and over."""
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        return _Prepared(None, (exc,), {})
    errors = validate(_schema(), document)
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return _Prepared(None if errors else document, tuple(errors), fragments)
