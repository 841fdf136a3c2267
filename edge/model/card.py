"""The model card: the sidecar `<model>.json` the converter writes beside a model, telling the
runtime what the model needs (input size and normalisation, output kind, labels).

A card is checked against `SCHEMA` (JSON Schema, with the `jsonschema` library) when it is read, so
everything after `read_card` can trust its fields: a bad card is one line naming the field, never a
traceback later. Only the documented fields are checked; unknown ones are allowed, so the cards of
newer converters (e.g. `output_stride`, `input.width`/`input.height`) still load.
"""
from __future__ import annotations

import functools
import json
import math
import os
from pathlib import Path
from typing import Any

from ..errors import ModelError

CARD_FORMAT = "pibokeh-model-card/1"
# DeepLab MobileNetV2's input normalisation, (x - MEAN) / STD on RGB: the card's default.
MEAN = STD = 127.5
MAX_CARD_BYTES = 4 * 1024 * 1024  # a card is a few kB; a huge "card" is not one (and must not fill memory)

_SIDE = {"type": "integer", "minimum": 1, "maximum": 16384}
_OBJECT_OR_NULL = {"type": ["object", "null"]}
_TEXT = {"type": "string", "maxLength": 1000}

# The fields of docs/CONVERTER.md ("Model card") and convert/card.py. The runtime uses input.mean/std,
# labels and family; the rest is checked for sense so that `pibokeh info` shows a coherent card.
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "format": {"type": "string", "pattern": "^pibokeh-model-card/[0-9]+$"},
        "family": {"type": "string", "minLength": 1, "maxLength": 200},
        "file": _TEXT,
        "size_bytes": {"type": "integer", "minimum": 0},
        "source": _OBJECT_OR_NULL,
        "cut": _OBJECT_OR_NULL,
        "quantization": {"type": ["string", "null"], "maxLength": 100},
        "recipe": _OBJECT_OR_NULL,
        "calibration": _OBJECT_OR_NULL,
        "output_stride": {"type": ["integer", "null"], "minimum": 1, "maximum": 64},  # null: no MobileNetV2 blocks
        "stride_rewrite": _OBJECT_OR_NULL,
        "input": {
            "type": "object",
            "properties": {
                "name": _TEXT,
                "size": _SIDE,
                "width": _SIDE,
                "height": _SIDE,
                "dtype": {"enum": ["uint8", "int8", "float32", "float16"]},
                "color": {"enum": ["RGB"]},  # the runtime feeds RGB; a card claiming otherwise is wrong
                # (x - mean) / std with x a pixel value: a mean far outside 0..255 or a std <= 0 is nonsense
                "mean": {"type": "number", "minimum": -1000, "maximum": 1000},
                "std": {"type": "number", "exclusiveMinimum": 0, "maximum": 100000},
                "range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                "normalisation": _TEXT,
                "quantization": _OBJECT_OR_NULL,
            },
        },
        "output": {
            "type": "object",
            "properties": {
                "name": _TEXT,
                "kind": {"enum": ["scores", "labels", "logits"]},
                "dtype": {"type": "string", "maxLength": 20},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 8},
            },
        },
        "labels": {"type": "array", "items": {"type": "string", "maxLength": 100}, "minItems": 1,
                   "maxItems": 256},
        "converter": _OBJECT_OR_NULL,
        "validation": _OBJECT_OR_NULL,
    },
}


@functools.cache
def _validator() -> Any:
    import jsonschema  # here, not at the top: ~0.1 s that commands on models without a card never pay
    return jsonschema.Draft202012Validator(SCHEMA)


def card_path(model: str | os.PathLike) -> Path:
    return Path(model).with_suffix(".json")


def read_card(model: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar card of a model, checked against SCHEMA, or None when there is none.

    Raises ModelError (one line, naming the field) for a card that is not valid JSON or not a card.
    """
    path = card_path(model)
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise ModelError(f"{path}: model card is too large ({path.stat().st_size} bytes) to be a card")
        card = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: model card is not valid JSON ({_short(exc)})") from None
    except ValueError:  # an integer of more than 4300 digits (Python's limit on int(str)): no card has one
        raise ModelError(f"{path}: model card is not valid JSON (a number with thousands of digits)") from None
    problem = card_problem(card)
    if problem:
        raise ModelError(f"{path}: bad model card: {problem}")
    return card


def card_problem(card: Any) -> str | None:
    """What is wrong with a parsed card, in a few words naming the field; None when it is fine."""
    if not isinstance(card, dict):
        return "not a JSON object"
    from jsonschema.exceptions import best_match
    error = best_match(_validator().iter_errors(card))
    if error is None:
        return _non_finite(card.get("input"))
    field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return f"{field or 'the card'} {_expected(error)}"


def _non_finite(card_input: Any) -> str | None:
    # JSON Schema has no "finite": Python's json reads NaN and Infinity, which compare as nothing.
    if isinstance(card_input, dict):
        for key in ("mean", "std"):
            value = card_input.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                return f"input.{key} should be a finite number, got {value}"
    return None


def _expected(error: Any) -> str:
    """The schema's expectation in words (jsonschema's own message repeats the whole value)."""
    kind, want = error.validator, error.validator_value
    if kind == "type":
        names = [want] if isinstance(want, str) else list(want)
        return "should be " + " or ".join({"object": "an object", "array": "a list", "integer": "a whole number",
                                            "null": "null"}.get(n, f"a {n}") for n in names) + _got(error.instance)
    if kind == "enum":
        return "should be one of " + ", ".join(map(json.dumps, want)) + _got(error.instance)
    words = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    if kind in words:
        return f"should be {words[kind]} {want}{_got(error.instance)}"
    if kind in ("minItems", "maxItems"):
        return f"should have {'at least' if kind == 'minItems' else 'at most'} {want} items"
    if kind in ("minLength", "maxLength"):
        return f"should be {'at least' if kind == 'minLength' else 'at most'} {want} characters long"
    if kind == "pattern":
        return f"should look like {CARD_FORMAT}{_got(error.instance)}"
    return _short(error.message)


def _got(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return f", got {_short(text, 40)}"


def _short(value: Any, limit: int = 120) -> str:
    text = " ".join(str(value).split())  # one line, whatever the input held
    return text if len(text) <= limit else text[: limit - 3] + "..."
