"""The strict converter for wire envelopes, and its errors in words."""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector_core.wire import describe_structure_error, fast_reader, strict_converter


@attrs.frozen
class Owner:
    id: str
    email: str | None = None


@attrs.frozen
class Envelope:
    id: str
    count: int
    score: float
    flag: bool
    owner: Owner | None = None
    tags: tuple[str, ...] | None = None
    payload: Any = None


GOOD: dict[str, Any] = {
    "id": "e1",
    "count": 3,
    "score": 1,
    "flag": True,
    "owner": {"id": "u1", "email": None},
    "tags": ["a", "b"],
    "payload": {"anything": [1, "x"]},
}


def refusal(data: object, *, root: str = "", **options: Any) -> str:
    converter = strict_converter(**options)
    # Errors inside an envelope come as cattrs' tree, with their paths; a
    # top-level value that is not an object as a bare TypeError.
    with pytest.raises((cattrs.BaseValidationError, TypeError)) as caught:
        converter.structure(data, Envelope)
    return describe_structure_error(caught.value, root)


def test_a_well_formed_envelope_is_structured_and_unknown_keys_ignored():
    envelope = strict_converter().structure({**GOOD, "new_field": 1}, Envelope)
    assert envelope == Envelope(
        id="e1",
        count=3,
        score=1.0,
        flag=True,
        owner=Owner("u1"),
        tags=("a", "b"),
        payload={"anything": [1, "x"]},
    )
    assert strict_converter().structure({**GOOD, "owner": None}, Envelope).owner is None


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"id": 7}, "id: expected a string, got int 7"),
        ({"count": "3"}, "count: expected an integer, got str '3'"),
        ({"count": 3.5}, "count: expected an integer, got float 3.5"),
        ({"count": True}, "count: expected an integer, got bool True"),
        ({"score": "1.5"}, "score: expected a number, got str '1.5'"),
        (
            {"score": 10**400},
            "score: expected a number, got an integer too large for one",
        ),
        ({"flag": 1}, "flag: expected a boolean, got int 1"),
        ({"tags": "ab"}, "tags: expected an array, got str 'ab'"),
        ({"tags": ["a", 2]}, "tags[1]: expected a string, got int 2"),
        ({"owner": "u1"}, "owner: expected an object, got str 'u1'"),
        ({"owner": {"id": 5}}, "owner.id: expected a string, got int 5"),
        ({"owner": {}}, "owner.id: required but missing"),
    ],
)
def test_no_value_is_coerced_and_the_error_names_its_path(change, sentence):
    assert refusal({**GOOD, **change}) == sentence


def test_every_problem_is_named_in_one_sentence():
    text = refusal({**GOOD, "id": None, "count": "x"})
    assert text == (
        "id: expected a string, got NoneType None; "
        "count: expected an integer, got str 'x'"
    )


def test_a_record_that_is_not_an_object_is_refused_as_a_whole():
    assert refusal(["not", "an", "object"]) == (
        "record: expected an object, got list ['not', 'an', 'object']"
    )


def test_the_root_prefixes_the_path_of_a_nested_envelope():
    assert refusal({**GOOD, "id": 1}, root="latest_config[0]") == (
        "latest_config[0].id: expected a string, got int 1"
    )


def test_unknown_keys_can_be_refused():
    assert refusal({**GOOD, "z": 1, "y": 2}, forbid_extra_keys=True) == (
        "record: unexpected keys 'y', 'z'"
    )
    assert refusal({**GOOD, "owner": {"id": "u", "x": 0}}, forbid_extra_keys=True) == (
        "owner: unexpected keys 'x'"
    )


def test_a_plain_error_is_described_too():
    assert describe_structure_error(ValueError("bad value")) == "record: bad value"
    assert describe_structure_error(KeyError("id"), "owner") == (
        "owner: required but missing"
    )


def test_hooks_a_plugin_adds_do_not_leak_into_other_converters():
    mine = strict_converter()
    mine.register_structure_hook(str, lambda value, _cls: str(value))
    assert mine.structure({**GOOD, "id": 7}, Envelope).id == "7"
    assert refusal({**GOOD, "id": 7}) == "id: expected a string, got int 7"


# -- fast readers -------------------------------------------------------------


@attrs.frozen
class File:
    id: str
    size: int | None = None


@attrs.frozen
class Message:
    id: str
    at: float
    owner: Owner
    files: tuple[File, ...] = ()
    edited: bool = False
    body: Any = None


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "size", "x"]), inner, max_size=3)
    ),
    max_leaves=8,
)
_FILE = st.fixed_dictionaries(
    {"id": st.text(max_size=3) | _JSON},
    optional={"size": st.integers() | st.none() | _JSON},
)
_MESSAGE = st.fixed_dictionaries(
    {
        "id": st.text(max_size=3) | _JSON,
        "at": st.floats(allow_nan=False) | _JSON,
        "owner": st.fixed_dictionaries(
            {"id": st.text(max_size=3) | _JSON},
            optional={"email": st.none() | st.text(max_size=3) | _JSON},
        )
        | _JSON,
    },
    optional={
        "files": st.lists(_FILE, max_size=3) | _JSON,
        "edited": st.booleans() | _JSON,
        "body": _JSON,
        "extra": _JSON,
    },
)


def _outcome(read, record):
    try:
        return "value", read(record)
    except Exception as exc:  # noqa: BLE001 - compared, type and words
        return type(exc).__name__, describe_structure_error(exc)


@settings(max_examples=400, deadline=None)
@given(record=_MESSAGE | _JSON)
def test_a_fast_reader_answers_as_its_converter_does(record):
    """Whatever the record: the same instance, or the same refusal in the
    same words."""
    converter = strict_converter()
    structure = converter.get_structure_hook(Message)
    fast = fast_reader(converter, Message)
    assert _outcome(fast, record) == _outcome(lambda r: structure(r, Message), record)


def test_a_fast_reader_keeps_the_exact_types_it_was_given():
    converter = strict_converter()
    record = {
        "id": "m1",
        "at": 1.5,
        "owner": {"id": "u1"},
        "files": [{"id": "f1", "size": 3}, {"id": "f2"}],
        "body": {"text": "hi"},
    }
    read = fast_reader(converter, Message)(record)
    assert read == converter.structure(record, Message)
    assert read.files == (File("f1", 3), File("f2"))
    assert read.body is record["body"]


def test_a_converter_that_forbids_extra_keys_gets_its_own_hook():
    converter = strict_converter(forbid_extra_keys=True)
    read = fast_reader(converter, Owner)
    assert read({"id": "u1"}) == Owner("u1")
    with pytest.raises(cattrs.BaseValidationError):
        read({"id": "u1", "unknown": 1})
