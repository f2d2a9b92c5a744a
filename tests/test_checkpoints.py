"""Typed checkpoints: what a class writes, what it reads back, how older
versions are carried forward, and errors that name the stream and the
problem but never what is stored."""

from __future__ import annotations

import doctest
import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import attrs
import pytest

import connector_core
import connector_core.checkpoints
from connector_core import Checkpoint, CheckpointError, SchemaError
from connector_core.checkpoints import VERSION_KEY, Migration
from connector_core.cursors import SeenIds


T0 = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)


@attrs.frozen
class Inner:
    name: str
    count: int = 0


def _positive(_instance, _attribute, value):
    if value <= 0:
        raise ValueError("served: expected a positive count")


@attrs.frozen(kw_only=True)
class Everything(Checkpoint):
    """One field of each supported type."""

    text: str
    number: int
    ratio: float
    flag: bool
    moment: datetime
    seen: SeenIds = attrs.field(factory=SeenIds)
    maybe: int | None = None
    names: tuple[str, ...] = ()
    window: tuple[int, int] = (0, 1)
    inner: Inner = Inner("x")
    extra: Any = None
    served: int = attrs.field(default=1, validator=_positive)


def _everything(**changes):
    fields = {
        "text": "t",
        "number": 7,
        "ratio": 0.5,
        "flag": True,
        "moment": T0,
        "seen": SeenIds(["a", "b"]),
        "maybe": 3,
        "names": ("n1", "n2"),
        "window": (10, 20),
        "inner": Inner("i", 2),
        "extra": {"free": ["form"]},
        "served": 4,
    }
    return Everything(**(fields | changes))


# -- writing and reading back ---------------------------------------------------


def test_a_checkpoint_round_trips_through_json():
    point = _everything()
    stored = json.loads(json.dumps(point.to_dict()))
    assert Everything.from_dict("s", stored) == point


def test_to_dict_is_tagged_with_the_version_and_json_ready():
    stored = _everything().to_dict()
    assert next(iter(stored)) == VERSION_KEY
    assert stored[VERSION_KEY] == 1
    assert stored["moment"] == "2025-03-01T12:30:00Z"
    assert stored["seen"] == SeenIds(["a", "b"]).encode()
    assert stored["names"] == ["n1", "n2"]
    assert stored["window"] == [10, 20]
    assert stored["inner"] == {"name": "i", "count": 2}
    # What a store writes and reads back is what was yielded: no tuples.
    assert json.loads(json.dumps(stored)) == stored


def test_times_are_stored_in_utc_and_read_back_with_any_zone():
    east = timezone(timedelta(hours=5, minutes=30))
    stored = _everything(moment=T0.astimezone(east)).to_dict()
    assert stored["moment"] == "2025-03-01T12:30:00Z"
    stored["moment"] = "2025-03-01T18:00:00+05:30"
    assert Everything.from_dict("s", stored).moment == T0
    fractional = _everything(moment=T0 + timedelta(microseconds=5)).to_dict()
    assert fractional["moment"] == "2025-03-01T12:30:00.000005Z"


def test_a_naive_time_is_refused_when_written():
    with pytest.raises(ValueError, match="zone"):
        _everything(moment=datetime(2025, 3, 1)).to_dict()  # noqa: DTZ001


def test_fields_with_defaults_may_be_missing():
    point = Everything.from_dict(
        "s",
        {
            "text": "t",
            "number": 1,
            "ratio": 1,
            "flag": False,
            "moment": "2025-03-01T12:30:00Z",
        },
    )
    assert point.seen == SeenIds()
    assert point.maybe is None
    assert point.names == ()
    assert point.ratio == 1.0
    assert isinstance(point.ratio, float)


def test_seen_ids_read_a_plain_list_of_ids_too():
    stored = _everything().to_dict()
    stored["seen"] = ["a", "b"]
    assert Everything.from_dict("s", stored).seen == SeenIds(["a", "b"])


@pytest.mark.parametrize("nothing", [None, {}])
def test_nothing_stored_is_no_checkpoint(nothing):
    assert Everything.from_dict("s", nothing) is None


def test_the_stored_dict_is_left_as_it_was():
    stored = _everything().to_dict()
    before = json.loads(json.dumps(stored))
    Everything.from_dict("s", stored)
    assert stored == before


# -- versions -------------------------------------------------------------------


calls: list[dict[str, Any]] = []


def _v1_to_v2(old: dict[str, Any]) -> dict[str, Any] | None:
    calls.append(dict(old))
    if "stale" in old:
        return None  # a position not worth trusting
    old["until"] = old.pop("after")
    return old


def _v2_to_v3(old: dict[str, Any]) -> dict[str, Any]:
    calls.append(dict(old))
    return {**old, "seen": old.get("seen", [])}


@attrs.frozen(kw_only=True)
class Evolved(Checkpoint):
    VERSION = 3
    MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _v1_to_v2, 2: _v2_to_v3}

    until: datetime
    seen: SeenIds


@pytest.fixture(autouse=True)
def _fresh_calls():
    calls.clear()


def test_an_untagged_dict_is_version_1_and_is_migrated_in_turn():
    stored = {"after": "2025-03-01T12:30:00Z", "seen": ["a"]}
    point = Evolved.from_dict("s", stored)
    assert point == Evolved(until=T0, seen=SeenIds(["a"]))
    assert calls == [
        {"after": "2025-03-01T12:30:00Z", "seen": ["a"]},
        {"until": "2025-03-01T12:30:00Z", "seen": ["a"]},
    ]
    assert stored == {"after": "2025-03-01T12:30:00Z", "seen": ["a"]}


def test_a_tagged_dict_runs_only_the_later_migrations():
    point = Evolved.from_dict("s", {"v": 2, "until": "2025-03-01T12:30:00Z"})
    assert point == Evolved(until=T0, seen=SeenIds())
    assert calls == [{"until": "2025-03-01T12:30:00Z"}]  # no "v" handed on


def test_the_current_version_runs_no_migration():
    point = Evolved(until=T0, seen=SeenIds(["a"]))
    assert point.to_dict()["v"] == 3
    assert Evolved.from_dict("s", point.to_dict()) == point
    assert calls == []


def test_a_migration_may_find_nothing_to_resume_from():
    assert Evolved.from_dict("s", {"stale": 1, "after": "x"}) is None


def test_a_migration_that_fails_is_a_checkpoint_error():
    with pytest.raises(CheckpointError) as raised:
        Evolved.from_dict("events", {"before": "2025-03-01T12:30:00Z"})
    assert raised.value.stream == "events"
    assert "version 1" in raised.value.reason
    assert "KeyError" in raised.value.reason


def test_a_newer_version_is_refused_not_guessed():
    with pytest.raises(CheckpointError) as raised:
        Evolved.from_dict("events", {"v": 4, "until": "2025-03-01T12:30:00Z"})
    assert "newer" in raised.value.reason
    assert "version 4" in raised.value.reason
    assert "up to 3" in raised.value.reason


@pytest.mark.parametrize("version", [0, -1, True, "2", 2.0, None, [2]])
def test_a_version_that_is_no_number_is_refused(version):
    with pytest.raises(CheckpointError, match="v: expected a version number"):
        Evolved.from_dict("events", {"v": version, "until": "2025-03-01T12:30:00Z"})


# -- refusing what does not fit, without quoting it ------------------------------

# Distinctive values that must never appear in an error.
SECRET = "s3cr3t-id-0042"


@pytest.mark.parametrize(
    ("changes", "where", "problem"),
    [
        ({"text": 17}, "text", "expected a string, got an integer"),
        ({"number": SECRET}, "number", "expected an integer, got a string"),
        ({"number": "17"}, "number", "expected an integer, got a string"),
        ({"number": 1.5}, "number", "expected an integer, got a number"),
        ({"number": True}, "number", "expected an integer, got a boolean"),
        ({"ratio": SECRET}, "ratio", "expected a number, got a string"),
        ({"flag": 1}, "flag", "expected a boolean, got an integer"),
        ({"moment": SECRET}, "moment", "expected an ISO 8601 time, got a string"),
        ({"moment": "2025-03-01T12:30:00"}, "moment", "with a zone, got one without"),
        ({"moment": 1740832200}, "moment", "with a zone, got an integer"),
        ({"seen": SECRET}, "seen", "not an encoded id set"),
        ({"seen": [SECRET, 5]}, "seen", "an array holding a non-string"),
        ({"seen": {"a": SECRET}}, "seen", "got an object"),
        ({"maybe": SECRET}, "maybe", "expected an integer, got a string"),
        ({"names": SECRET}, "names", "expected an array, got a string"),
        ({"names": ["ok", 5]}, "names[1]", "expected a string, got an integer"),
        ({"window": [1, SECRET]}, "window[1]", "expected an integer, got a string"),
        ({"window": [1, 2, 3]}, "window", "expected an array of 2, got an array"),
        ({"window": SECRET}, "window", "expected an array of 2, got a string"),
        ({"inner": SECRET}, "inner", "expected an object, got a string"),
        ({"inner": {"name": 5}}, "inner.name", "expected a string, got an integer"),
        ({"inner": {"count": 1}}, "inner.name", "required but missing"),
        ({"served": 0}, "served", "expected a positive count"),
    ],
)
def test_a_field_that_does_not_fit_is_named_with_its_problem(changes, where, problem):
    stored = _everything().to_dict() | changes
    with pytest.raises(CheckpointError) as raised:
        Everything.from_dict("events", stored)
    error = raised.value
    assert isinstance(error, SchemaError)
    assert error.stream == "events"
    assert error.reason.startswith(f"{where}: ")
    assert problem in error.reason
    assert "the checkpoint of stream 'events' is unreadable" in str(error)
    assert SECRET not in str(error)
    assert "\n" not in str(error)


def test_a_missing_field_and_an_unknown_key_are_named():
    stored = _everything().to_dict()
    del stored["text"]
    stored["surprise"] = SECRET
    with pytest.raises(CheckpointError) as raised:
        Everything.from_dict("events", stored)
    assert "text: required but missing" in raised.value.reason
    assert "unexpected key(s) 'surprise'" in raised.value.reason
    assert SECRET not in str(raised.value)


def test_every_problem_is_named_in_one_line():
    stored = _everything().to_dict() | {"text": 1, "number": SECRET}
    with pytest.raises(CheckpointError) as raised:
        Everything.from_dict("events", stored)
    assert raised.value.reason == (
        "text: expected a string, got an integer; "
        "number: expected an integer, got a string"
    )


@pytest.mark.parametrize(
    ("stored", "kind"),
    [
        ([SECRET], "an array"),
        (SECRET, "a string"),
        (17, "an integer"),
        (False, "a boolean"),
    ],
)
def test_a_checkpoint_that_is_no_object_is_refused(stored, kind):
    with pytest.raises(CheckpointError) as raised:
        Everything.from_dict("events", stored)
    assert raised.value.reason == f"not an object, got {kind}"


# -- declaring a class ------------------------------------------------------------


def test_a_missing_migration_is_refused_where_the_class_is_defined():
    with pytest.raises(TypeError, match=r"missing \[2\]"):

        @attrs.frozen
        class Gap(Checkpoint):
            VERSION = 3
            MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _v1_to_v2}
            until: datetime


def test_a_migration_from_no_older_version_is_refused():
    with pytest.raises(TypeError, match=r"not older than VERSION \[2\]"):

        @attrs.frozen
        class Ahead(Checkpoint):
            VERSION = 2
            MIGRATIONS: ClassVar[Mapping[int, Migration]] = {1: _v1_to_v2, 2: _v2_to_v3}
            until: datetime


@pytest.mark.parametrize("version", [0, True, "2"])
def test_a_version_must_be_a_positive_integer(version):
    with pytest.raises(TypeError, match="VERSION"):
        type("Bad", (Checkpoint,), {"VERSION": version})


def test_the_version_key_is_no_field_name():
    with pytest.raises(TypeError, match="'v'"):

        @attrs.frozen
        class Clash(Checkpoint):
            v: int


def test_version_and_migrations_are_no_fields():
    with pytest.raises(TypeError, match="ClassVar"):

        @attrs.frozen
        class Field(Checkpoint):
            VERSION: int = 2


# -- the module's example, and the export -------------------------------------------


def test_the_module_example_runs():
    failures, tried = doctest.testmod(connector_core.checkpoints)
    assert tried > 5
    assert failures == 0


def test_the_base_is_exported_at_the_top():
    assert connector_core.Checkpoint is Checkpoint
    assert "Checkpoint" in connector_core.__all__


# -- the example plugin's checkpoints, as today's and earlier releases stored them --


def test_the_example_reads_the_checkpoints_it_stored_before_versions():
    from aiaudit_example.connector import Resume  # noqa: PLC0415

    # Exactly what the example wrote before its checkpoints were typed.
    legacy = {
        "since": "2025-02-27T00:00:00.000000Z",
        "seen": ["login:1740614332871:2022586193429246965:0"],
    }
    point = Resume.from_dict("login_activity", legacy)
    assert point == Resume(
        since=datetime(2025, 2, 27, tzinfo=UTC),
        seen=("login:1740614332871:2022586193429246965:0",),
    )
    assert point.to_dict() == {
        "v": 1,
        "since": "2025-02-27T00:00:00Z",
        "seen": ["login:1740614332871:2022586193429246965:0"],
    }
    # Its first release wrote the time alone.
    oldest = Resume.from_dict(
        "login_activity", {"since": "2025-02-28T23:59:59.000001Z"}
    )
    assert oldest == Resume(
        since=datetime(2025, 2, 28, 23, 59, 59, 1, tzinfo=UTC), seen=()
    )


def test_the_example_refuses_a_checkpoint_of_another_shape():
    from aiaudit_example.connector import Resume  # noqa: PLC0415

    with pytest.raises(CheckpointError) as raised:
        Resume.from_dict("login_activity", {"until": SECRET})
    assert raised.value.stream == "login_activity"
    assert "since: required but missing" in raised.value.reason
    assert SECRET not in str(raised.value)
