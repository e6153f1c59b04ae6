"""Planning a validated operation: the fields of each (object type, selection) collected through
fragments and ``@skip``/``@include``, their arguments coerced (SDL defaults included), and the
request's variables coerced to the operation's declared types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
    coerce_input_value,
    get_named_type,
    is_input_type,
    type_from_ast,
    value_from_ast,
)

_DEFAULTS: dict[int, Any] = {}


def _default_of(arg: GraphQLArgument) -> Any:
    """An argument's SDL default, read from its AST (stable across graphql-core versions)."""
    key = id(arg)
    if key not in _DEFAULTS:
        node = arg.ast_node
        default = node.default_value if node is not None else None
        _DEFAULTS[key] = Undefined if default is None else value_from_ast(default, arg.type)
    return _DEFAULTS[key]


@dataclass(frozen=True, slots=True)
class _Info:
    context: Any
    field_name: str


@dataclass(frozen=True, slots=True)
class _Field:
    """One response key of one selection on one object type, arguments already coerced."""

    key: str
    name: str
    parent: str
    definition: GraphQLField | None  # None for __typename
    named: GraphQLNamedType | None  # the field's type without list and non-null wrappers
    nodes: tuple[FieldNode, ...]
    args: Mapping[str, Any]
    info: _Info
    leaf: GraphQLScalarType | GraphQLEnumType | None = None  # set for a scalar or enum (not a list of them)

    @property
    def type(self) -> GraphQLOutputType:
        assert self.definition is not None
        return self.definition.type


class _Planner:
    """Collects fields and coerces arguments, once per (object type, selection) in one request."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        context: Any,
        *,
        document: DocumentNode | None = None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.context = context
        self.document = document
        self._cache: dict[tuple[str, int], list[_Field]] = {}

    def root_fields(self, type_: GraphQLObjectType, selection_set: SelectionSetNode) -> list[_Field]:
        return self._fields(type_, (selection_set,), id(selection_set))

    def sub_fields(self, type_: GraphQLObjectType, parent: _Field) -> list[_Field]:
        planned = self._cache.get((type_.name, id(parent)))
        if planned is None:
            sets = [n.selection_set for n in parent.nodes if n.selection_set is not None]
            planned = self._fields(type_, sets, id(parent))
        return planned

    def _fields(self, type_: GraphQLObjectType, sets: Sequence[SelectionSetNode], key: int) -> list[_Field]:
        cache_key = (type_.name, key)
        planned = self._cache.get(cache_key)
        if planned is None:
            grouped: dict[str, list[FieldNode]] = {}
            for selection_set in sets:
                self._collect(type_, selection_set, grouped, set())
            planned = [self._plan(type_, k, nodes) for k, nodes in grouped.items()]
            self._cache[cache_key] = planned
        return planned

    def _collect(
        self,
        type_: GraphQLObjectType,
        selection_set: SelectionSetNode,
        out: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                out.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if condition is None or self._applies(condition.name.value, type_):
                    self._collect(type_, selection.selection_set, out, visited)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in visited:
                visited.add(selection.name.value)
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and self._applies(fragment.type_condition.name.value, type_):
                    self._collect(type_, fragment.selection_set, out, visited)

    def _applies(self, condition: str, type_: GraphQLObjectType) -> bool:
        if condition == type_.name:
            return True
        target = self.schema.get_type(condition)
        return isinstance(target, GraphQLInterfaceType | GraphQLUnionType) and self.schema.is_sub_type(target, type_)

    def _included(self, selection: FieldNode | InlineFragmentNode | FragmentSpreadNode | Any) -> bool:
        """Honour @skip(if:) and @include(if:)."""
        for directive in selection.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            value = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
            flag = value_from_ast(value, GraphQLNonNull(GraphQLBoolean), dict(self.variables)) if value else False
            if (name == "skip") == bool(flag):
                return False
        return True

    def _plan(self, type_: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> _Field:
        name = nodes[0].name.value
        definition = None if name == "__typename" else type_.fields.get(name)
        if definition is None:
            return _Field(key, name, type_.name, None, None, tuple(nodes), {}, _Info(self.context, name))
        args = self._arguments(definition, nodes[0])
        named = get_named_type(definition.type)
        inner = definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type
        leaf = inner if isinstance(inner, GraphQLScalarType | GraphQLEnumType) else None
        return _Field(key, name, type_.name, definition, named, tuple(nodes), args, _Info(self.context, name), leaf)

    def _arguments(self, definition: GraphQLField, node: FieldNode) -> dict[str, Any]:
        """Coerce literal and variable arguments; absent ones take the SDL default or stay absent."""
        given = {a.name.value: a.value for a in node.arguments or ()}
        args: dict[str, Any] = {}
        for name, arg in definition.args.items():
            value: Any = Undefined
            value_node = given.get(name)
            if value_node is not None and not (
                isinstance(value_node, VariableNode) and value_node.name.value not in self.variables
            ):
                value = value_from_ast(value_node, arg.type, dict(self.variables))
            if value is Undefined:
                value = _default_of(arg)
            if value is not Undefined:
                args[name] = value
        return args


def _coerce_variables(
    schema: GraphQLSchema, operation: OperationDefinitionNode, raw: Mapping[str, Any]
) -> tuple[dict[str, Any], list[GraphQLError]]:
    """Coerce the request's variables to the operation's declared types (GraphQL spec 6.1.2)."""
    values: dict[str, Any] = {}
    errors: list[GraphQLError] = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        var_type = type_from_ast(schema, definition.type)
        if var_type is None or not is_input_type(var_type):
            errors.append(GraphQLError(f'Variable "${name}" expected value of unknown type.', definition))
            continue
        input_type = var_type
        if name not in raw:
            if definition.default_value is not None:
                values[name] = value_from_ast(definition.default_value, input_type)
            elif isinstance(input_type, GraphQLNonNull):
                errors.append(
                    GraphQLError(f'Variable "${name}" of required type "{input_type}" was not provided.', definition)
                )
            continue
        value = _coerce_input(raw[name], input_type)
        if value is Undefined:
            errors.append(GraphQLError(f'Variable "${name}" got invalid value {json.dumps(raw[name])}.', definition))
        else:
            values[name] = value
    return values, errors


def _coerce_input(value: Any, type_: GraphQLInputType) -> Any:
    try:
        return coerce_input_value(value, type_)
    except GraphQLError:  # graphql-core 3.2 raises where 3.3 returns Undefined
        return Undefined
