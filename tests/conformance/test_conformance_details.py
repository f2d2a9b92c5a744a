"""What a sandbox tells the suite is read strictly: a misspelled key must not
silently turn a check off."""

from __future__ import annotations

import re

import pytest

from connector_core.testing import (
    DEFAULT_FAULT_PROFILES,
    FAULT_KINDS,
    ConformanceDetails,
    ConformanceDetailsError,
)


def test_no_details_mean_the_defaults():
    details = ConformanceDetails.from_details({"seed": 1})
    assert details.bad_config is None
    assert details.restricted_config is None
    assert details.expected_ids is None
    assert details.faults == DEFAULT_FAULT_PROFILES


def test_everything_a_sandbox_may_say():
    observed = {"redirect_hops": 0, "credentialed_hops": 0}
    details = ConformanceDetails.from_details(
        {
            "conformance": {
                "bad_config": {"api_key": "wrong-key-123"},
                "restricted_config": {"api_key": "limited-key-123"},
                "restricted_missing": ["reports.read"],
                "expected_ids": ["a", "b"],
                "faults": {"malformed": "html", "rate_limit": None},
                "fault_config": {"max_retries": 0},
                "poisoned_ids": {"login:1:q:0": "q"},
                "observed": observed,
            }
        }
    )
    assert details.bad_config == {"api_key": "wrong-key-123"}
    assert details.restricted_missing == ("reports.read",)
    assert details.expected_ids == frozenset({"a", "b"})
    assert details.faults == {
        "rate_limit": None,
        "server_error": "server_error",
        "malformed": "html",
        "redirect": "redirect",
        "stuck_cursor": "stuck_cursor",
        "poisoned": "poisoned",
        "late": "late",
    }
    assert details.fault_config == {"max_retries": 0}
    assert details.poisoned_ids == {"login:1:q:0": "q"}
    # Live: the sandbox's own mapping, so what it counts later is seen.
    observed["credentialed_hops"] = 1
    assert details.observed is not None
    assert details.observed["credentialed_hops"] == 1


def test_every_fault_kind_has_a_default_profile_named_after_it():
    """A sandbox that implements a kind under its plain name needs no mapping;
    ``malformed`` keeps its historical default."""
    assert set(DEFAULT_FAULT_PROFILES) == set(FAULT_KINDS)
    for kind in FAULT_KINDS:
        if kind != "malformed":
            assert DEFAULT_FAULT_PROFILES[kind] == kind


@pytest.mark.parametrize(
    ("conformance", "message"),
    [
        ({"expected_id": []}, "unknown key(s) expected_id"),
        ({"faults": {"timeout": "slow"}}, "unknown fault kind 'timeout'"),
        ({"faults": {"malformed": 3}}, "must be a profile name or None"),
        ({"expected_ids": "abc"}, "must be a list of strings"),
        ({"bad_config": ["api_key"]}, "must be a mapping"),
        ({"poisoned_ids": ["a"]}, "must be a mapping"),
        ({"poisoned_ids": {"a": 1}}, "must map each log id to a native id"),
        ({"observed": 3}, "must be a mapping"),
        ("everything", "must be a mapping"),
    ],
)
def test_malformed_details_are_refused_with_the_place(conformance, message):
    with pytest.raises(ConformanceDetailsError, match=re.escape(message)):
        ConformanceDetails.from_details({"conformance": conformance})


def test_held_secrets_are_the_sandboxs_own_list():
    # A configuration naming a key file holds no secret itself; the sandbox
    # lists what the connector comes to hold, and may add tokens it issues.
    held = ["-----BEGIN PRIVATE KEY-----abc"]
    details = ConformanceDetails.from_details({"conformance": {"held_secrets": held}})
    held.append("ya29.issued-later")
    assert list(details.held_secrets) == held


@pytest.mark.parametrize("value", ["one-string", [1, 2], {"a": "b"}])
def test_held_secrets_must_be_strings(value):
    with pytest.raises(ConformanceDetailsError, match="held_secrets"):
        ConformanceDetails.from_details({"conformance": {"held_secrets": value}})
