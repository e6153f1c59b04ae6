"""Reading a report request: dates (``NdaysAgo``, ``yesterday``...), filter expressions and their
matches, metric aggregation and ordering keys; what cannot be read is a :class:`_BadRequest` (HTTP 400)."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any


class _BadRequest(Exception):
    pass


def _resolve_date(text: str, today: dt.date) -> dt.date:
    if text == "today":
        return today
    if text == "yesterday":
        return today - dt.timedelta(days=1)
    match = re.fullmatch(r"(\d+)daysAgo", text)
    if match:
        return today - dt.timedelta(days=int(match.group(1)))
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"Invalid date: {text!r}. Use YYYY-MM-DD, NdaysAgo, yesterday or today.") from None


def _string_match(spec: dict[str, Any], value: str) -> bool:
    case = bool(spec.get("caseSensitive"))
    target = str(spec.get("value", ""))
    subject, wanted = (value, target) if case else (value.lower(), target.lower())
    kind = spec.get("matchType", "EXACT")
    if kind in ("EXACT", "MATCH_TYPE_UNSPECIFIED"):
        return subject == wanted
    if kind == "BEGINS_WITH":
        return subject.startswith(wanted)
    if kind == "ENDS_WITH":
        return subject.endswith(wanted)
    if kind == "CONTAINS":
        return wanted in subject
    flags = 0 if case else re.IGNORECASE
    try:
        if kind == "FULL_REGEXP":
            return re.fullmatch(target, value, flags) is not None
        if kind == "PARTIAL_REGEXP":
            return re.search(target, value, flags) is not None
    except re.error:
        raise _BadRequest(f"Invalid regular expression: {target!r}.") from None
    raise _BadRequest(f"Unknown matchType {kind!r}.")


def _number(spec: Any) -> float:
    if not isinstance(spec, dict):
        raise _BadRequest("numeric value must be {int64Value} or {doubleValue}")
    raw: Any = spec.get("int64Value", spec.get("doubleValue", 0))
    try:
        return float(raw)
    except (TypeError, ValueError):
        raise _BadRequest(f"Invalid numeric value {raw!r}.") from None


def _numeric_match(spec: dict[str, Any], value: float) -> bool:
    op = spec.get("operation", "EQUAL")
    x = _number(spec.get("value"))
    return {
        "EQUAL": value == x,
        "LESS_THAN": value < x,
        "LESS_THAN_OR_EQUAL": value <= x,
        "GREATER_THAN": value > x,
        "GREATER_THAN_OR_EQUAL": value >= x,
    }.get(op, False)


def _aggregate(kind: str, values: list[float]) -> float:
    if kind == "MAXIMUM":
        return max(values)
    if kind == "MINIMUM":
        return min(values)
    return sum(values)


def _filter_fields(expr: Any) -> set[str]:
    if not isinstance(expr, dict):
        raise _BadRequest("A FilterExpression must be an object.")
    if "andGroup" in expr or "orGroup" in expr:
        group = expr.get("andGroup") or expr.get("orGroup") or {}
        return set().union(*(_filter_fields(e) for e in group.get("expressions", [])))
    if "notExpression" in expr:
        return _filter_fields(expr["notExpression"])
    if "filter" in expr:
        name = expr["filter"].get("fieldName")
        if not name:
            raise _BadRequest("Filter is missing fieldName.")
        return {str(name)}
    raise _BadRequest("A FilterExpression needs andGroup, orGroup, notExpression or filter.")


def _matches(expr: dict[str, Any], values: dict[str, Any]) -> bool:
    if "andGroup" in expr:
        return all(_matches(e, values) for e in expr["andGroup"].get("expressions", []))
    if "orGroup" in expr:
        return any(_matches(e, values) for e in expr["orGroup"].get("expressions", []))
    if "notExpression" in expr:
        return not _matches(expr["notExpression"], values)
    spec = expr.get("filter")
    if not isinstance(spec, dict) or "fieldName" not in spec:
        raise _BadRequest("A FilterExpression needs andGroup, orGroup, notExpression or filter with a fieldName.")
    value = values.get(spec["fieldName"])
    if "stringFilter" in spec:
        return _string_match(spec["stringFilter"], str(value))
    if "inListFilter" in spec:
        lst = spec["inListFilter"]
        case = bool(lst.get("caseSensitive"))
        options = [str(v) if case else str(v).lower() for v in lst.get("values", [])]
        return (str(value) if case else str(value).lower()) in options
    if "numericFilter" in spec:
        return _numeric_match(spec["numericFilter"], float(value or 0))
    if "betweenFilter" in spec:
        between = spec["betweenFilter"]
        return _number(between.get("fromValue")) <= float(value or 0) <= _number(between.get("toValue"))
    if "emptyFilter" in spec:
        return value in ("", None)
    raise _BadRequest("Filter needs stringFilter, inListFilter, numericFilter, betweenFilter or emptyFilter.")


def _dimension_key(value: str, order_type: str) -> Any:
    if order_type == "NUMERIC":
        try:
            return float(value)
        except ValueError:
            return math.inf
    return value.lower() if order_type == "CASE_INSENSITIVE_ALPHANUMERIC" else value
