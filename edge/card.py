"""The model card: the sidecar `<model>.json` the converter writes beside a model, telling the
runtime what the model needs (input size and normalisation, output kind, labels)."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import ModelError

CARD_FORMAT = "pibokeh-model-card/1"
# DeepLab MobileNetV2's input normalisation, (x - MEAN) / STD on RGB: the card's default.
MEAN = STD = 127.5


def card_path(model: str | os.PathLike) -> Path:
    return Path(model).with_suffix(".json")


def read_card(model: str | os.PathLike) -> dict[str, Any] | None:
    """The sidecar card of a model, or None when there is none."""
    path = card_path(model)
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: model card is not valid JSON ({exc})") from None
    if not isinstance(card, dict):
        raise ModelError(f"{path}: model card is not a JSON object")
    return card
