"""Tool input schemas that the strictest MCP clients accept.

Pydantic writes an optional field as ``anyOf: [{...}, {"type": "null"}]``; several clients (and
model providers' function-calling validators) reject a ``null`` branch or ``anyOf`` beside
``type``. An optional field is already optional by being absent from ``required``, so the null
branch is dropped. Objects get an explicit ``additionalProperties: false``. The titles pydantic
derives from names (``"row_limit"`` → ``"Row Limit"``) say nothing the name does not, and cost a
sixth of tools/list: they go.
"""

from __future__ import annotations

from typing import Any

__all__ = ["clean_schema"]


def clean_schema(schema: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = _clean(schema, top=True)
    return cleaned


def _clean(node: Any, *, top: bool = False) -> Any:
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    # A string "title" is the keyword; a property named "title" maps to a schema (a dict) and stays.
    node = {k: _clean(v) for k, v in node.items() if not (k == "title" and isinstance(v, str))}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list):
            kept = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(kept) != len(options):
                if node.get("default", "absent") is None:
                    node.pop("default")
                if len(kept) == 1:
                    node.pop(key)
                    merged = {**kept[0], **node}
                    node = merged
                else:
                    node[key] = kept
    if node.get("type") == "object" or "properties" in node:
        node.setdefault("additionalProperties", False)
        node.setdefault("properties", {})
        if top:
            node.setdefault("required", [])
    return node
