"""Checks request bodies against Amazon's Swagger models bundled in this package, naming the first bad field."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

ORDERS_MODEL = "vendorDirectFulfillmentOrders_2021-12-28.json"
SHIPPING_MODEL = "vendorDirectFulfillmentShipping_2021-12-28.json"
INVENTORY_MODEL = "vendorDirectFulfillmentInventoryV1.json"
TRANSACTIONS_MODEL = "vendorDirectFulfillmentTransactions_2021-12-28.json"
TOKENS_MODEL = "tokens_2021-03-01.json"

_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})?$")


def parse_datetime(text: str) -> datetime | None:
    """Parse an ISO-8601 date-time with a 'T' (naive means UTC); None if it is not one."""
    if not isinstance(text, str) or not _DATE_TIME.match(text):
        return None
    cleaned = text[:-1] + "+00:00" if text[-1] in "Zz" else text
    # fromisoformat takes at most microseconds: trim nanosecond fractions rather than reject them
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", cleaned)
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def model_path(name: str) -> Any:
    """The bundled model file, for tests that validate with jsonschema."""
    return resources.files(__package__).joinpath("models", name)


@cache
def load_model(name: str) -> dict[str, Any]:
    with model_path(name).open("r", encoding="utf-8") as handle:
        model: dict[str, Any] = json.load(handle)
    return model


class ModelValidator:
    """A Swagger 2.0 subset walker: $ref, type, required, properties, items, enum, pattern, date-time, min/max items."""

    def __init__(self, model_name: str) -> None:
        self._definitions: dict[str, Any] = load_model(model_name)["definitions"]

    def problem(self, definition: str, value: Any, where: str = "") -> str | None:
        """The first problem found in value against #/definitions/<definition>, or None."""
        return self._walk(self._definitions[definition], value, where)

    def _walk(self, schema: dict[str, Any], value: Any, where: str) -> str | None:
        if "$ref" in schema:
            return self._walk(self._definitions[schema["$ref"].rsplit("/", 1)[-1]], value, where)
        label = where or "body"
        kind = schema.get("type")
        if kind == "object" or (kind is None and "properties" in schema):
            return self._walk_object(schema, value, where)
        if kind == "array":
            return self._walk_array(schema, value, where)
        if kind == "string":
            if not isinstance(value, str):
                return f"{label} must be a string"
            if "enum" in schema and value not in schema["enum"]:
                return f"{label} must be one of {schema['enum']}"
            if "pattern" in schema and not re.search(schema["pattern"], value):
                return f"{label} does not match {schema['pattern']}"
            if schema.get("format") == "date-time" and parse_datetime(value) is None:
                return f"{label} must be an ISO-8601 date-time"
            return None
        if kind == "integer":
            return None if isinstance(value, int) and not isinstance(value, bool) else f"{label} must be an integer"
        if kind == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            return None if ok else f"{label} must be a number"
        if kind == "boolean":
            return None if isinstance(value, bool) else f"{label} must be a boolean"
        return None

    def _walk_object(self, schema: dict[str, Any], value: Any, where: str) -> str | None:
        if not isinstance(value, dict):
            return f"{where or 'body'} must be an object"
        prefix = f"{where}." if where else ""
        for name in schema.get("required", ()):
            if name not in value or value[name] is None:
                return f"{prefix}{name} is required"
        for name, sub in schema.get("properties", {}).items():
            if name in value and value[name] is not None:
                found = self._walk(sub, value[name], f"{prefix}{name}")
                if found:
                    return found
        return None

    def _walk_array(self, schema: dict[str, Any], value: Any, where: str) -> str | None:
        label = where or "body"
        if not isinstance(value, list):
            return f"{label} must be an array"
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{label} needs at least {schema['minItems']} item(s)"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{label} takes at most {schema['maxItems']} item(s)"
        for index, item in enumerate(value):
            found = self._walk(schema.get("items", {}), item, f"{label}[{index}]")
            if found:
                return found
        return None
