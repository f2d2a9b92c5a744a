"""Normalize or quarantine: a record becomes logs or evidence, never a crash."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from connector_core.exceptions import RecordRefusedError
from connector_core.models import AIActivityType, AIAuditLog
from connector_core.streams import (
    MAX_QUARANTINED_RAW,
    UNEXPECTED_FAILURE,
    QuarantinedRecord,
    StreamBatch,
    normalize_or_quarantine,
)


STREAM = "audit"
WHEN = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def make_log(ident: str) -> AIAuditLog:
    return AIAuditLog(
        id=ident,
        platform="toy",
        timestamp=WHEN,
        user_id="u1",
        organization_id="o1",
        activity_type=AIActivityType.LOGIN,
        action="user.login",
        user_email=None,
        native_type="login",
    )


def to_log(raw: object) -> AIAuditLog:
    if not isinstance(raw, dict):
        raise RecordRefusedError("record is not a JSON object")
    if "id" not in raw:
        raise RecordRefusedError("id is missing", native_type=raw.get("type"))
    return make_log(raw["id"])


def test_a_good_record_is_returned_as_the_normalizer_made_it():
    assert normalize_or_quarantine(STREAM, {"id": "a"}, to_log) == make_log("a")
    logs = [make_log("a"), make_log("b")]
    assert normalize_or_quarantine(STREAM, {}, lambda _raw: logs) is logs


def test_a_refused_record_is_quarantined_with_its_reason_and_identity():
    raw = {"type": "login", "at": 1}
    result = normalize_or_quarantine(STREAM, raw, to_log, where="file f1")
    assert result == QuarantinedRecord(
        stream=STREAM,
        reason="id is missing (file f1)",
        raw='{"type":"login","at":1}',
        native_type="login",
    )


def test_a_feed_type_stands_in_when_the_refusal_names_none():
    result = normalize_or_quarantine(STREAM, [1], to_log, native_type="gpt")
    assert isinstance(result, QuarantinedRecord)
    assert (result.reason, result.native_type, result.raw) == (
        "record is not a JSON object",
        "gpt",
        "[1]",
    )
    refused = normalize_or_quarantine(
        STREAM, {"type": "login"}, to_log, native_type="gpt"
    )
    assert isinstance(refused, QuarantinedRecord)
    assert refused.native_type == "login"


def test_an_unexpected_error_is_quarantined_as_a_bug_not_raised():
    def broken(raw: object) -> AIAuditLog:
        raise KeyError("surprise")

    result = normalize_or_quarantine(STREAM, {"id": "a"}, broken, where="file f1")
    assert isinstance(result, QuarantinedRecord)
    assert result.reason == f"{UNEXPECTED_FAILURE}KeyError('surprise') (file f1)"
    assert UNEXPECTED_FAILURE == "unexpected normalizer failure: "
    assert result.raw == '{"id":"a"}'
    assert (result.native_id, result.native_type) == (None, None)


def test_interruptions_are_not_swallowed():
    def cancelled(raw: object) -> AIAuditLog:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        normalize_or_quarantine(STREAM, {}, cancelled)


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ({1: "int key"}, '{"1":"int key"}'),
        ({"n": 10**30}, "{'n': 1000000000000000000000000000000}"),
        ("\ud800", "'\\ud800'"),
    ],
)
def test_a_record_that_is_not_json_is_kept_as_its_repr(raw, kept):
    result = normalize_or_quarantine(STREAM, raw, to_log)
    assert isinstance(result, QuarantinedRecord)
    assert result.raw == kept


def test_a_record_that_cannot_be_shown_is_named_by_its_type():
    class Unshowable:
        def __repr__(self) -> str:
            raise ValueError("no")

    result = QuarantinedRecord.of_value(STREAM, "bad", Unshowable())
    assert result.raw == "<Unshowable that cannot be shown>"


def test_a_huge_record_is_cut_and_marked():
    result = QuarantinedRecord.of_value(STREAM, "bad", {"x": "y" * MAX_QUARANTINED_RAW})
    assert result.truncated
    assert len(result.raw) == MAX_QUARANTINED_RAW
    assert (
        result.raw
        == orjson.dumps({"x": "y" * MAX_QUARANTINED_RAW}).decode()[:MAX_QUARANTINED_RAW]
    )


def test_results_split_into_one_batch_in_order():
    bad = QuarantinedRecord.of(STREAM, "bad", "x")
    worse = QuarantinedRecord.of(STREAM, "worse", "y")
    batch = StreamBatch.from_results(
        [make_log("a"), bad, [make_log("b"), make_log("c")], (), worse, make_log("d")],
        checkpoint={"at": 3},
    )
    assert batch == StreamBatch(
        logs=(make_log("a"), make_log("b"), make_log("c"), make_log("d")),
        quarantined=(bad, worse),
        checkpoint={"at": 3},
    )


def test_results_of_a_generator_are_read_once():
    raws = [{"id": "a"}, "junk", {"id": "b"}]
    batch = StreamBatch.from_results(
        normalize_or_quarantine(STREAM, raw, to_log) for raw in raws
    )
    assert [entry.id for entry in batch.logs] == ["a", "b"]
    assert [q.raw for q in batch.quarantined] == ['"junk"']
    assert batch.checkpoint is None
    assert StreamBatch.from_results([]) == StreamBatch()


def test_of_failure_is_what_normalize_or_quarantine_keeps():
    """A reader calling its normalizer itself keeps a failed record exactly
    as the helper would: refusals with their identity, bugs as unexpected."""
    from connector_core.exceptions import RecordRefusedError  # noqa: PLC0415
    from connector_core.streams import (  # noqa: PLC0415
        QuarantinedRecord,
        normalize_or_quarantine,
    )

    for error in (
        RecordRefusedError("no id", native_id="n1", native_type="login"),
        KeyError("actor"),
    ):

        def fail(raw, error=error):
            raise error

        raw = {"kind": "x"}
        helper = normalize_or_quarantine(
            "s", raw, fail, where="page 2", native_type="t"
        )
        direct = QuarantinedRecord.of_failure(
            "s", raw, error, where="page 2", native_type="t"
        )
        assert direct == helper
        assert direct.reason.endswith("(page 2)")
