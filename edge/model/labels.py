"""PASCAL VOC class names and ids, as DeepLab's PASCAL models number them."""
from __future__ import annotations

LABELS: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)

# Names people type that differ from the dataset's spelling.
ALIASES = {
    "airplane": "aeroplane", "plane": "aeroplane", "bike": "bicycle", "motorcycle": "motorbike",
    "people": "person", "human": "person", "plant": "pottedplant", "potted plant": "pottedplant",
    "table": "diningtable", "dining table": "diningtable", "tv": "tvmonitor", "monitor": "tvmonitor",
}

PERSON = LABELS.index("person")


def class_ids(spec: str | list[str], labels: tuple[str, ...] | list[str] = LABELS) -> list[int]:
    """Class ids for a comma-separated list of names or ids ("person,car" -> [15, 7]).

    Raises ValueError naming the unknown entries and listing the valid names.
    """
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    ids: list[int] = []
    unknown: list[str] = []
    for raw in items:
        name = raw.strip().lower()
        if not name:
            continue
        name = ALIASES.get(name, name)
        if name.isdigit() and int(name) < len(labels):
            ids.append(int(name))
        elif name in labels:
            ids.append(list(labels).index(name))
        else:
            unknown.append(raw.strip())
    if unknown:
        raise ValueError(f"unknown class {', '.join(map(repr, unknown))}; "
                         f"choose from: {', '.join(labels[1:])}")
    if not ids:
        raise ValueError("no classes given")
    return sorted(set(ids), key=ids.index)
