"""The stored document is ``serialization.dumps(log)``, byte for byte, and
``dumps`` of a log writes what the converter writes.

``dumps`` writes a log without walking ``metadata`` and ``raw`` through the
converter (orjson serializes plain JSON data itself), so these tests compare
that path with the converter's own (``orjson.dumps(unstructure(log))``) on
every kind of log: the example plugin's sandbox events of every kind,
arbitrary logs, and values the free-form mappings may hold that plain JSON
does not have. Where the converter fails, ``dumps`` must fail the same way
(the same exception) and the store too (the same ``StoreError`` message, or
the same exception escaping).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import math
import types
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import orjson
import pytest
from aiaudit_example.normalize import APPLICATIONS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector_core import Registry
from connector_core._document import usual_documents
from connector_core.exceptions import StoreError
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIAuditLogQuery,
    AIRiskIndicator,
    AIRiskType,
    ComplianceFramework,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)
from connector_core.sandbox import SandboxOptions
from connector_core.secrets import Secret
from connector_core.serialization import converter_for, dumps
from connector_core.store._document import EVENT_COLUMNS, event_row


DOCUMENT = [name for name, _ in EVENT_COLUMNS].index("document")
T0 = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)
SNAKE = converter_for("snake")


def converter_json(log: Any) -> bytes:
    """The converter's own path: what ``dumps`` did for every object before
    it had a path of its own for logs."""
    return orjson.dumps(SNAKE.unstructure(log))


def _expected(log: AIAuditLog) -> tuple[Any, ...]:
    """What ``event_row`` makes of *log* from the converter's document, or
    of the error the converter raises."""
    try:
        return ("document", converter_json(log).decode())
    except (orjson.JSONEncodeError, TypeError, ValueError) as exc:
        return ("StoreError", f"event {log.id!r} cannot be serialized: {exc}")
    except Exception as exc:  # noqa: BLE001 -- escaped event_row as it is
        return (type(exc).__name__, str(exc))


def _actual(log: AIAuditLog) -> tuple[Any, ...]:
    try:
        return ("document", event_row("c", "s", log, "now")[DOCUMENT])
    except StoreError as exc:
        return ("StoreError", str(exc))
    except Exception as exc:  # noqa: BLE001 -- compared with the converter's
        return (type(exc).__name__, str(exc))


def _outcome(write: Any, log: AIAuditLog) -> tuple[Any, ...]:
    try:
        return ("document", write(log))
    except Exception as exc:  # noqa: BLE001 -- compared with the converter's
        return (type(exc).__name__, str(exc))


def assert_same(log: AIAuditLog) -> tuple[Any, ...]:
    """``dumps`` and the store write *log* as the converter does, or fail
    as it does."""
    assert _outcome(dumps, log) == _outcome(converter_json, log)
    expected = _expected(log)
    assert _actual(log) == expected
    # Written with others, a log gets the same document, or none (and is
    # then written alone as above).
    other = make_log(id="evt-other")
    batch = usual_documents([other, log, other])
    assert batch[0] == batch[2]
    assert batch[0] in {None, converter_json(other)}
    if batch[1] is not None:
        assert expected == ("document", batch[1].decode())
    return expected


def make_log(**fields: Any) -> AIAuditLog:
    values: dict[str, Any] = {
        "id": "evt-1",
        "platform": "chatgpt",
        "timestamp": T0,
        "user_id": "u1",
        "user_email": "u1@example.com",
        "organization_id": "org-1",
        "activity_type": AIActivityType.CONVERSATION,
        "action": "conversation.created",
        "native_type": "conversation.created",
        "raw": {"id": "evt-1", "nested": {"list": [1, 2.5, None, True, "x"]}},
    }
    values.update(fields)
    return AIAuditLog(**values)


def forced(log: AIAuditLog, **fields: Any) -> AIAuditLog:
    """*log* with *fields* set past the validators and converters, as a
    buggy connector could (``object.__setattr__`` on a frozen instance)."""
    for name, value in fields.items():
        object.__setattr__(log, name, value)
    return log


# --------------------------------------------------------------------------
# Real events: every kind of event a plugin's sandbox serves
# --------------------------------------------------------------------------


async def test_every_sandbox_event_is_stored_as_the_converter_writes_it():
    end = datetime(2025, 3, 1, tzinfo=UTC)
    options = SandboxOptions(seed=11, events=3_000, days=10, end=end)
    registry = Registry.load(environ={"AIAUDIT_PLUGINS": "example"})
    provider = registry.sandbox("example")
    assert provider is not None
    query = AIAuditLogQuery(start_date=end - timedelta(days=10), end_date=end)
    async with (
        provider.start(options) as sandbox,
        registry.create("example", sandbox.config) as connector,
    ):
        logs = [log async for log in connector.stream_ai_audit_logs(query)]
    assert len(logs) > 3_000
    # Every kind of event the platform has, not only the commonest.
    assert {log.native_type for log in logs} == {
        f"{application}.{name}"
        for application, names in APPLICATIONS.items()
        for name in names
    }
    for log in logs:
        assert dumps(log) == converter_json(log)
        assert event_row("c", "s", log, "now")[DOCUMENT] == dumps(log).decode()


# --------------------------------------------------------------------------
# Arbitrary logs
# --------------------------------------------------------------------------

_text = st.text(max_size=12)
_key = _text | st.sampled_from(["id", "model", "tokens_used", "é", "\u2028", ""])
_json_scalar = (
    st.none()
    | st.booleans()
    | _text
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
)
_json = st.recursive(
    _json_scalar,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_key, inner, max_size=3)
    ),
    max_leaves=10,
)


class Colour(enum.Enum):
    RED = "red"
    PAIR = (1, 2)
    WHEN = datetime(2020, 1, 1, tzinfo=UTC)


class Level(enum.IntEnum):
    HIGH = 3


class Mode(str, enum.Enum):  # noqa: UP042 -- str() differs from a StrEnum's
    FAST = "fast"


class Text(str):
    __slots__ = ()

    def __str__(self) -> str:
        return f"text:{super().__str__()}"


class Number(int):
    pass


class Decimalish(float):
    pass


class Public(dict[str, Any]):
    """A dict that shows only some of its items, to whoever asks it."""

    def items(self) -> Any:
        return [(key, value) for key, value in super().items() if key[:1] != "_"]


class Backwards(list[Any]):
    def __iter__(self) -> Any:
        return reversed(self[:])


@dataclasses.dataclass
class Point:
    x: int
    at: datetime


Pair = collections.namedtuple("Pair", "left right")  # noqa: PYI024

_aware = st.datetimes(
    # A day from either end, where another zone's time is still a UTC one.
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 -- the zone is drawn apart
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, dt.timezone(timedelta(hours=5, minutes=30))]),
)
_unusual = st.one_of(
    st.integers(min_value=2**64),
    st.integers(max_value=-(2**63) - 1),
    _aware,
    st.datetimes(),  # naive: the converter refuses them
    st.dates(),
    st.times(),
    st.sets(st.integers(0, 3), max_size=3),
    st.frozensets(_text, max_size=2),
    st.binary(max_size=4),
    st.uuids(),
    st.sampled_from(
        [
            *Colour,
            Level.HIGH,
            Mode.FAST,
            AIActivityType.LOGIN,
            Text("sub"),
            Number(7),
            Decimalish(1.5),
            Point(1, T0),
            Pair(1, "b"),
            Secret("sk-live-value"),
            GeoLocation(city="Lyon", coordinates=Coordinates(latitude=1, longitude=2)),
            types.MappingProxyType({"a": 1}),
            collections.OrderedDict(b=1, a=2),
            collections.defaultdict(int, {"a": 1}),
            collections.deque([1, 2]),
            complex(1, 2),
            "\ud800",  # a lone surrogate
            "nul\x00",
            math.nan,
        ]
    ),
)
_odd_key = st.one_of(
    st.integers(0, 3),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.tuples(st.integers(0, 2)),
    st.sampled_from([Mode.FAST, Level.HIGH, AIActivityType.LOGIN, Text("k"), "1"]),
)
_anything = st.recursive(
    _json_scalar | _unusual,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_key, inner, max_size=3)
        | st.dictionaries(_odd_key, inner, max_size=2)
    ),
    max_leaves=6,
)
_mapping = st.dictionaries(_key, _json, max_size=4)
_wild_mapping = st.dictionaries(_key | _odd_key, _anything, max_size=3)

_risks = st.builds(
    AIRiskIndicator,
    type=st.sampled_from(AIRiskType),
    severity=st.sampled_from(RiskSeverity),
    description=_text,
    confidence=st.floats(min_value=0, max_value=100) | st.integers(0, 100),
    evidence=st.lists(_text, max_size=2).map(tuple),
    compliance_impact=st.lists(st.sampled_from(ComplianceFramework), max_size=2).map(
        tuple
    ),
)
_locations = st.builds(
    GeoLocation,
    country=st.none() | _text,
    city=st.none() | _text,
    coordinates=st.none()
    | st.builds(
        Coordinates,
        latitude=st.floats(min_value=-90, max_value=90),
        longitude=st.floats(min_value=-180, max_value=180),
    ),
)


def _logs(mapping: st.SearchStrategy[dict[Any, Any]]) -> st.SearchStrategy[AIAuditLog]:
    return st.builds(
        AIAuditLog,
        id=_text,
        platform=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
        # Any zone and the whole range: stored as UTC, with "Z".
        timestamp=_aware
        | st.sampled_from(
            [datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]
        ),
        user_id=_text,
        user_email=st.none() | _text,
        organization_id=_text,
        activity_type=st.sampled_from(AIActivityType),
        action=_text,
        metadata=mapping,
        ip_address=st.none() | _text,
        user_agent=st.none() | _text,
        location=st.none() | _locations,
        risk_indicators=st.lists(_risks, max_size=2).map(tuple),
        native_type=_text,
        raw=mapping,
    )


@settings(max_examples=400, deadline=None)
@given(log=_logs(_mapping))
def test_arbitrary_logs_of_json_data_are_stored_byte_for_byte(log):
    assert assert_same(log)[0] in {"document", "StoreError"}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=_logs(_wild_mapping))
def test_arbitrary_logs_of_any_values_are_stored_or_refused_alike(log):
    assert_same(log)


# --------------------------------------------------------------------------
# Edge cases, one by one
# --------------------------------------------------------------------------


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


EDGE_VALUES: dict[str, Any] = {
    "nan": math.nan,
    "infinity": -math.inf,
    "negative zero": -0.0,
    "largest unsigned 64-bit": 2**64 - 1,
    "smallest signed 64-bit": -(2**63),
    "beyond 64 bits": 2**64,
    "below 64 bits": -(2**63) - 1,
    "tuple": (1, (2, 3)),
    "set": {3},
    "frozenset": frozenset({"a"}),
    "utc datetime": T0,
    "datetime with an offset": datetime(
        2020, 1, 1, tzinfo=dt.timezone(-timedelta(hours=3))
    ),
    "naive datetime": datetime(2020, 1, 1),  # noqa: DTZ001 -- the point
    "nested datetime": [{"at": T0}],
    "date": dt.date(2020, 1, 2),
    "time": dt.time(1, 2, 3),
    "time with a zone": dt.time(1, 2, 3, tzinfo=UTC),
    "uuid": uuid.UUID(int=5),
    "dataclass": Point(1, T0),
    "namedtuple": Pair(1, 2),
    "enum": Colour.RED,
    "enum with a tuple value": Colour.PAIR,
    "enum with a datetime value": Colour.WHEN,
    "int enum": Level.HIGH,
    "str enum": AIActivityType.LOGIN,
    "str and enum": Mode.FAST,
    "str subclass": Text("x"),
    "int subclass": Number(3),
    "float subclass": Decimalish(2.5),
    "bytes": b"\x00\xff",
    "bytearray": bytearray(b"ab"),
    "attrs object": GeoLocation(country="FR"),
    "secret": Secret("sk-live-value"),
    "lone surrogate": "\udfff",
    "nul": "a\x00b",
    "mapping proxy": types.MappingProxyType({"a": T0}),
    "ordered dict": collections.OrderedDict(b=1, a=2),
    "dict subclass with its own items": Public(shown=1, _hidden=2),
    "list subclass with its own order": Backwards([1, 2, 3]),
    "default dict": collections.defaultdict(list, {"a": [1]}),
    "deque": collections.deque([1]),
    "range": range(3),
    "complex": 1j,
    "int key": {1: "a"},
    "bool key": {True: 1},
    "None key": {None: 1},
    "float key": {1.5: 1},
    "tuple key": {(1, 2): 1},
    "str enum key": {AIActivityType.LOGIN: 1},
    "str and enum key": {Mode.FAST: 1},
    "int enum key": {Level.HIGH: 1},
    "str subclass key": {Text("k"): 1},
    "keys equal once made text": {"1": "text", 1: "int"},
    "orjson fragment": orjson.Fragment(b'{"already":"json"}'),
    "deep": [[[[[[[[[[{"a": [1]}]]]]]]]]]],
    "too deep for orjson": _nested(300),
}


@pytest.mark.parametrize("field", ["metadata", "raw"])
@pytest.mark.parametrize("name", sorted(EDGE_VALUES))
def test_an_unusual_value_is_stored_or_refused_as_the_converter_does(field, name):
    outcome = assert_same(make_log(**{field: {"value": EDGE_VALUES[name]}}))
    # As a key's value, and as the mapping's item in a list, too.
    assert_same(make_log(**{field: {"list": [0, EDGE_VALUES[name]]}}))
    assert outcome[0] in {"document", "StoreError"}


def test_the_unusual_values_really_take_both_paths():
    """The cases above are not all plain JSON nor all refused: they reach
    each of the ways a document is written."""
    outcomes = {
        name: _expected(make_log(metadata={"value": value}))[0]
        for name, value in EDGE_VALUES.items()
    }
    assert outcomes["nan"] == outcomes["set"] == outcomes["int key"] == "document"
    assert outcomes["beyond 64 bits"] == outcomes["naive datetime"] == "StoreError"
    # Written by the converter: orjson alone would write "+00:00" and reject
    # the set and the int key.
    document = orjson.loads(
        dumps(make_log(metadata={"at": T0, "set": {1}, "key": {1: 2}}))
    )
    assert document["metadata"] == {
        "at": "2024-03-01T12:30:00Z",
        "set": [1],
        "key": {"1": 2},
    }


def test_a_circular_mapping_fails_as_it_did():
    loop: dict[str, Any] = {}
    loop["self"] = loop
    log = make_log(metadata={"loop": loop})
    with pytest.raises(RecursionError):
        converter_json(log)
    with pytest.raises(RecursionError):
        dumps(log)
    with pytest.raises(RecursionError):
        event_row("c", "s", log, "now")


@pytest.mark.parametrize(
    "timestamp",
    [
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(5, 6, 7, 8, 9, 10, 11, tzinfo=UTC),
        datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 2, 29, 0, 0, 0, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 0, 0, 0, 100_000, tzinfo=UTC),
        datetime(2024, 10, 27, 1, 30, fold=1, tzinfo=UTC),
    ],
)
def test_timestamps_are_written_as_the_converter_writes_them(timestamp):
    assert_same(make_log(timestamp=timestamp))


@settings(max_examples=2_000, deadline=None)
@given(timestamp=st.datetimes(timezones=st.just(UTC)))
def test_every_utc_timestamp_is_written_as_the_converter_writes_it(timestamp):
    log = make_log(timestamp=timestamp)
    assert dumps(log) == converter_json(log)


class Later(datetime):
    """A datetime subclass: its own formatting, if any, is the converter's."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "later" + super().isoformat(sep, timespec)


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("activity type as text", {"activity_type": "login"}),
        ("id as a number", {"id": 42}),
        ("email as a datetime", {"user_email": T0}),
        ("platform as a str subclass", {"platform": Text("chatgpt")}),
        ("naive timestamp", {"timestamp": datetime(2020, 1, 1)}),  # noqa: DTZ001
        (
            "timestamp in another zone",
            {"timestamp": datetime(2020, 1, 1, tzinfo=dt.timezone(timedelta(hours=2)))},
        ),
        ("timestamp subclass", {"timestamp": Later(2020, 1, 1, tzinfo=UTC)}),
        ("risk indicators as a list", {"risk_indicators": []}),
        (
            "one risk indicator in a list",
            {
                "risk_indicators": [
                    AIRiskIndicator(
                        type=AIRiskType.SENSITIVE_DATA,
                        severity=RiskSeverity.LOW,
                        description="d",
                        confidence=1,
                    )
                ]
            },
        ),
        (
            "location of the wrong class",
            {"location": Coordinates(latitude=1, longitude=1)},
        ),
        ("location as a dict", {"location": {"city": "x"}}),
        ("metadata not a dict", {"metadata": types.MappingProxyType({"a": 1})}),
        ("raw as a list", {"raw": [1, 2]}),
        (
            "metadata with a datetime and a bad location",
            {
                "metadata": {"at": datetime(2020, 1, 1)},  # noqa: DTZ001
                "location": "nowhere",
            },
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_fields_forced_past_the_model_are_stored_or_refused_alike(name, fields):
    assert_same(forced(make_log(), **fields))


def test_the_model_fields_are_those_the_fast_path_was_checked_on():
    """A new field of AIAuditLog is serialized by the converter's own hook
    (only the free-form mappings are left to orjson); this pins the list so
    that a new kind of field gets its own cases above."""
    assert [(field.name, field.type) for field in attrs.fields(AIAuditLog)] == [
        ("id", str),
        ("platform", str),
        ("timestamp", datetime),
        ("user_id", str),
        ("user_email", str | None),
        ("organization_id", str),
        ("activity_type", AIActivityType),
        ("action", str),
        ("metadata", Mapping[str, Any]),
        ("ip_address", str | None),
        ("user_agent", str | None),
        ("location", GeoLocation | None),
        ("risk_indicators", tuple[AIRiskIndicator, ...]),
        ("native_type", str),
        ("raw", Mapping[str, Any]),
    ]


@attrs.frozen(kw_only=True)
class TaggedLog(AIAuditLog):
    """A log of a class of its own, which the converter writes whole."""

    tag: str = "t"


def test_other_objects_and_styles_are_written_by_the_converter():
    """The path of its own is for an ``AIAuditLog`` in the snake style:
    a subclass keeps its own fields, and the camel style its own rules."""
    tagged = TaggedLog(**attrs.asdict(make_log(), recurse=False))
    assert dumps(tagged) == converter_json(tagged)
    assert orjson.loads(dumps(tagged))["tag"] == "t"
    log = make_log(ip_address=None, metadata={"conversation_id": "c1"})
    camel = orjson.loads(dumps(log, style="camel"))
    assert camel["metadata"] == {"conversationId": "c1"}
    assert "ipAddress" not in camel
    assert dumps(log, style="camel") == orjson.dumps(
        converter_for("camel").unstructure(log)
    )


def test_logs_written_together_are_written_as_each_alone():
    logs = [
        make_log(id=f"evt-{n}", location=GeoLocation(country="FR", city="Paris"))
        for n in range(5)
    ]
    logs[2] = make_log(
        id="evt-risky",
        risk_indicators=(
            AIRiskIndicator(
                type=AIRiskType.SENSITIVE_DATA,
                severity=RiskSeverity.HIGH,
                description="d",
                confidence=50.0,
            ),
        ),
    )
    logs[3] = forced(make_log(id="evt-odd"), risk_indicators=[])
    written = usual_documents(logs)
    assert written[3] is None
    assert [w for n, w in enumerate(written) if n != 3] == [
        converter_json(log) for n, log in enumerate(logs) if n != 3
    ]
    assert usual_documents([]) == []


def test_a_separator_inside_a_document_leaves_each_to_be_written_alone():
    """A fragment in a free-form mapping is written verbatim; one holding
    what separates the documents must not split them wrongly."""
    odd = make_log(metadata={"x": orjson.Fragment(b"1,\n,2")})
    assert usual_documents([make_log(), odd]) == [None, None]
