"""A stored document in either style is what the log rebuilt from it would
be written as: ``restyle_log(dumps(log), style=...)`` gives, byte for byte,
``dumps(loads(document), style=...)``, the JSON exports' text before they
read stored documents as they are. And ``write_documents`` refuses what it
cannot write before it reads anything.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector_core.exceptions import SchemaError
from connector_core.export.formats import (
    DOCUMENT_FORMATS,
    LOG_FORMATS,
    write_documents,
    write_logs,
)
from connector_core.models import (
    AIActivityType,
    AIAuditLog,
    AIRiskIndicator,
    AIRiskType,
    ComplianceFramework,
    Coordinates,
    GeoLocation,
    RiskSeverity,
)
from connector_core.serialization import dumps, loads, restyle_log, unstructure


STYLES = ("snake", "camel")
T0 = datetime(2024, 3, 1, 12, 30, tzinfo=UTC)


def rebuilt(document: str, style: Any) -> str:
    """The document's log rebuilt and written again: the exports' old path."""
    return orjson.dumps(unstructure(loads(document, AIAuditLog), style=style)).decode()


def make_log(**fields: Any) -> AIAuditLog:
    values: dict[str, Any] = {
        "id": "evt-1",
        "platform": "example",
        "timestamp": T0,
        "user_id": "u1",
        "user_email": "u1@example.com",
        "organization_id": "org-1",
        "activity_type": AIActivityType.CONVERSATION,
        "action": "conversation.created",
        "native_type": "conversation.created",
    }
    values.update(fields)
    return AIAuditLog(**values)


# --------------------------------------------------------------------------
# Arbitrary logs
# --------------------------------------------------------------------------

# Keys each rule of the camel key map reaches: snake keys, camel keys, and
# the keys it leaves alone; the names of the float fields too, which the
# snake style looks for; non-ASCII.
_key = st.sampled_from(
    [
        "conversation_id",
        "conversationId",
        "gpt4o_model",
        "aBC",
        "file_2",
        "_id",
        "a__b",
        "trailing_",
        "user.login",
        "HTTPStatus",
        "Kebab-case",
        "details",
        "model",
        "tokens_used",
        "confidence",
        "latitude",
        "longitude",
        "été_clé",
        "naïveKey",
        "日本_語",
        "",
    ]
) | st.text(max_size=8)
_scalar = (
    st.none()
    | st.booleans()
    | st.text(max_size=8)
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
)
_json = st.recursive(
    _scalar,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_key, inner, max_size=3)
    ),
    max_leaves=12,
)
_mapping = st.dictionaries(_key, _json, max_size=5)
_number = st.integers(0, 90) | st.floats(0, 90)
_aware = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001 -- the zone is drawn apart
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3, minutes=-30))]),
)
_risk = st.builds(
    AIRiskIndicator,
    type=st.sampled_from(AIRiskType),
    severity=st.sampled_from(RiskSeverity),
    description=st.text(max_size=8),
    confidence=_number,
    evidence=st.lists(st.text(max_size=4), max_size=2).map(tuple),
    compliance_impact=st.lists(st.sampled_from(ComplianceFramework), max_size=2).map(
        tuple
    ),
)
_location = st.builds(
    GeoLocation,
    country=st.none() | st.text(max_size=4),
    region=st.none() | st.text(max_size=4),
    city=st.none() | st.text(max_size=4),
    coordinates=st.none()
    | st.builds(
        Coordinates,
        latitude=_number | st.integers(-90, 0),
        longitude=_number | st.integers(-180, 180),
    ),
    timezone=st.none() | st.just("Europe/Paris"),
)
_logs = st.builds(
    AIAuditLog,
    id=st.text(max_size=8),
    platform=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    timestamp=_aware,
    user_id=st.text(max_size=8),
    user_email=st.none() | st.text(max_size=8),
    organization_id=st.text(max_size=8),
    activity_type=st.sampled_from(AIActivityType),
    action=st.text(max_size=8),
    metadata=_mapping | st.builds(lambda m, d: {**m, "details": d}, _mapping, _mapping),
    ip_address=st.none() | st.text(max_size=8),
    user_agent=st.none() | st.text(max_size=8),
    location=st.none() | _location,
    risk_indicators=st.lists(_risk, max_size=2).map(tuple),
    native_type=st.text(max_size=8),
    raw=_mapping,
)


def _stored(log: AIAuditLog) -> str | None:
    try:
        return dumps(log).decode()
    except (TypeError, ValueError):
        return None  # a value no document holds (a lone surrogate...)


@settings(max_examples=500, deadline=None)
@given(log=_logs, style=st.sampled_from(STYLES))
def test_a_document_in_either_style_is_the_rebuilt_log_written_again(log, style):
    document = _stored(log)
    if document is not None:
        assert restyle_log(document, style=style) == rebuilt(document, style)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("plain", {}),
        ("no email, IP or location", {"user_email": None}),
        (
            "every optional field",
            {
                "ip_address": "203.0.113.9",
                "user_agent": "curl/8",
                "location": GeoLocation(
                    country="FR",
                    coordinates=Coordinates(latitude=45, longitude=4.5),
                ),
            },
        ),
        ("an empty location", {"location": GeoLocation()}),
        (
            "an integer confidence",
            {
                "risk_indicators": (
                    AIRiskIndicator(
                        type=AIRiskType.SENSITIVE_DATA,
                        severity=RiskSeverity.HIGH,
                        description="d",
                        confidence=80,
                        compliance_impact=(ComplianceFramework.GDPR,),
                    ),
                )
            },
        ),
        (
            "keys of both styles, and some of neither",
            {
                "metadata": {
                    "conversation_id": "c1",
                    "conversationId": "c2",
                    "files": [{"file_id": "f1", "uploadedAt": "x"}, [["deep_key"]]],
                    "user.login": {"_id": 1, "a__b": [{"file_2": None}]},
                    "details": {"snake_key": {"camelKey": [{"x_y": 1}]}},
                    "confidence": 5,
                    "名前_key": "Ünïcödé ✓ \u2028 \x00",
                },
                "raw": {"conversation_id": [1, [2, {"nested_key": -0.0}]]},
            },
        ),
    ],
)
def test_the_cases_each_rule_reaches(name, fields, style):
    document = dumps(make_log(**fields)).decode()
    assert restyle_log(document, style=style) == rebuilt(document, style)


def test_the_snake_style_is_the_document_itself_unless_a_float_was_an_integer():
    document = dumps(make_log(metadata={"confidence": 5.5, "latitude": "1"})).decode()
    # The same object, not a copy: nothing was parsed.
    assert restyle_log(document) is document
    # An integer under such a key in the free-form mappings is rewritten
    # too, to the same text: those are kept as they are.
    lookalike = dumps(make_log(metadata={"confidence": 5, "latitude": 1})).decode()
    assert restyle_log(lookalike) is not lookalike
    assert restyle_log(lookalike) == lookalike
    risky = make_log(
        risk_indicators=(
            AIRiskIndicator(
                type=AIRiskType.SENSITIVE_DATA,
                severity=RiskSeverity.LOW,
                description="d",
                confidence=80,
            ),
        ),
    )
    stored = dumps(risky).decode()
    assert '"confidence":80,' in stored
    assert '"confidence":80.0,' in restyle_log(stored)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    "document",
    [
        "not json",
        '{"id": "x"',
        "[]",
        '{"id": "evt-1"}',
        # A float field holding what no float is: read, so refused.
        dumps(
            make_log(
                risk_indicators=(
                    AIRiskIndicator(
                        type=AIRiskType.SENSITIVE_DATA,
                        severity=RiskSeverity.LOW,
                        description="d",
                        confidence=80,
                    ),
                )
            )
        )
        .decode()
        .replace('"risk_indicators":[{', '"risk_indicators":{"x":{')
        .replace("}],", "}},", 1),
    ],
)
def test_a_document_the_rewrite_cannot_read_is_a_schema_error(document, style):
    if style == "snake" and '"confidence":80' not in document:
        # Written as it is: the snake style reads nothing.
        assert restyle_log(document, style=style) == document
        return
    with pytest.raises(SchemaError, match="AIAuditLog"):
        restyle_log(document, style=style)


def test_an_unknown_style_is_refused():
    with pytest.raises(ValueError, match="unknown style 'kebab'"):
        restyle_log("{}", style="kebab")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# write_documents
# --------------------------------------------------------------------------


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("fmt", DOCUMENT_FORMATS)
@pytest.mark.parametrize("count", [0, 1, 3])
def test_documents_are_written_as_their_logs_are(fmt, style, count):
    logs = [
        make_log(id=f"evt-{n}", metadata={"conversation_id": f"c{n}"})
        for n in range(count)
    ]
    from_logs, from_documents = io.StringIO(), io.StringIO()
    assert write_logs(logs, from_logs, format=fmt, style=style) == count
    documents = [dumps(log).decode() for log in logs]
    assert write_documents(documents, from_documents, format=fmt, style=style) == count
    assert from_documents.getvalue() == from_logs.getvalue()


def _untouched() -> Any:
    raise AssertionError("read before the format and style were checked")
    yield  # pragma: no cover


@pytest.mark.parametrize("fmt", sorted(set(LOG_FORMATS) - set(DOCUMENT_FORMATS)))
def test_a_format_that_needs_the_logs_is_refused_before_reading(fmt):
    with pytest.raises(ValueError, match="not written from stored documents"):
        write_documents(_untouched(), io.StringIO(), format=fmt)


def test_an_unknown_style_is_refused_before_reading():
    with pytest.raises(ValueError, match="unknown style"):
        write_documents(_untouched(), io.StringIO(), format="jsonl", style="kebab")
