import pytest
from pibokeh.model.labels import LABELS, class_ids


def test_names_ids_and_aliases():
    assert len(LABELS) == 21 and LABELS[15] == "person" and LABELS[7] == "car"
    assert class_ids("person") == [15]
    assert class_ids("person, Car") == [15, 7]
    assert class_ids("people,tv,7") == [15, 20, 7]


def test_unknown_names_are_reported():
    with pytest.raises(ValueError, match="unknown class 'persn'"):
        class_ids("persn,car")
    with pytest.raises(ValueError, match="no classes"):
        class_ids(" , ")
