"""The sandbox as the host sees it: its description, its conformance facts,
its ground truth, its generated domain, and ``aiaudit sandbox gemini``."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import APPLICATIONS, OPTIONS

from aiaudit_gemini.sandbox.data import (
    AUDIT_SCOPE,
    GEMINI_START,
    UTC_OFFSET,
    Domain,
    format_time,
)
from aiaudit_gemini.sandbox.server import (
    FAULT_PROFILES,
    GeminiSandbox,
    GeminiSandboxProvider,
    history_bounds,
)
from connector_core import SandboxOptions
from connector_core.testing._details import FAULT_KINDS, ConformanceDetails
from connector_core.testing.processes import AIAUDIT, clean_env


CONFIG_KEYS = {
    "credentials_file",
    "subject",
    "customer_id",
    "base_url",
    "page_size",
    "rate_limit",
}


async def test_the_provider_describes_a_running_sandbox():
    async with GeminiSandboxProvider().start(OPTIONS) as running:
        assert running.platform == "gemini"
        assert set(running.urls) == {"api", "token"}
        assert running.urls["token"] == f"{running.urls['api']}/token"
        config = running.config
        assert set(config) == CONFIG_KEYS
        assert config["base_url"] == running.urls["api"]
        assert config["customer_id"].startswith("C0")
        assert len(config["customer_id"]) == 9
        key_file = Path(config["credentials_file"])
        assert await asyncio.to_thread(key_file.is_file)
        details = ConformanceDetails.from_details(running.details)
        assert details.restricted_missing == (AUDIT_SCOPE,)
        assert set(details.faults) == set(FAULT_KINDS)
        assert all(p in FAULT_PROFILES for p in details.faults.values())
        assert details.bad_config is not None
        assert details.bad_config["credentials_file"] != config["credentials_file"]
        assert details.restricted_config is not None
        assert details.restricted_config["subject"] != config["subject"]
        assert details.expected_ids is not None
        assert len(details.expected_ids) == running.details["events"]
        assert details.observed is not None
        assert "redirect_hops" in details.observed
        json.dumps(running.details)  # what ``aiaudit sandbox --json`` prints
    assert not await asyncio.to_thread(key_file.exists)


async def test_ground_truth_is_what_is_served(tmp_path):
    options = SandboxOptions(
        seed=5, events=500, days=5, end=OPTIONS.end, ground_truth_dir=str(tmp_path)
    )
    async with GeminiSandbox.run(options) as sandbox:
        expected = json.loads((tmp_path / "expected_ids.json").read_text())
        assert expected == sandbox.expected_ids()
        lines = 0
        for app in APPLICATIONS:
            rows = (tmp_path / app / "activities.jsonl").read_text().splitlines()
            assert [json.loads(r) for r in rows] == [
                a.record for a in sandbox.domain.activities[app]
            ]
            lines += len(rows)
        assert lines == sum(len(v) for v in sandbox.domain.activities.values())


def test_the_same_seed_makes_the_same_domain():
    start, end = OPTIONS.end - timedelta(days=3), OPTIONS.end
    one = Domain.generate(seed=4, events=600, start=start, end=end)
    two = Domain.generate(seed=4, events=600, start=start, end=end)
    other = Domain.generate(seed=5, events=600, start=start, end=end)
    assert [a.record for a in one.all_activities()] == [
        a.record for a in two.all_activities()
    ]
    assert one.expected_ids() == two.expected_ids()
    assert one.expected_ids() != other.expected_ids()


def test_the_domain_has_its_people():
    domain = Domain.generate(
        seed=2, events=300, start=OPTIONS.end - timedelta(days=2), end=OPTIONS.end
    )
    assert 35 <= len(domain.users) <= 45
    assert 2 <= len(domain.admins) <= 3
    assert domain.subject.admin
    assert not domain.restricted.admin
    assert all(u.email.endswith("@acme-corp.example") for u in domain.users)
    assert len({u.email for u in domain.users}) == len(domain.users)


def test_gemini_activity_never_starts_before_google_keeps_it():
    start = datetime(2025, 6, 1, tzinfo=UTC)
    domain = Domain.generate(
        seed=1, events=2000, start=start, end=start + timedelta(days=30)
    )
    for app in ("gemini_in_workspace_apps", "gemini_notebook"):
        assert domain.activities[app]
        assert min(a.time for a in domain.activities[app]) >= GEMINI_START
    assert min(a.time for a in domain.activities["login"]) < GEMINI_START
    before = Domain.generate(
        seed=1, events=200, start=start, end=start + timedelta(days=10)
    )
    assert not before.activities["gemini_in_workspace_apps"]


def test_times_look_like_office_hours_with_ties_and_milliseconds():
    domain = Domain.generate(
        seed=9, events=6000, start=OPTIONS.end - timedelta(days=28), end=OPTIONS.end
    )
    activities = domain.all_activities()
    local = [a.time + UTC_OFFSET for a in activities]
    office = sum(1 for t in local if t.weekday() < 5 and 8 <= t.hour < 20)
    assert office / len(local) > 0.7
    weekdays = Counter(t.weekday() for t in local)
    assert weekdays[5] + weekdays[6] < weekdays[2]
    assert all(a.time.microsecond % 1000 == 0 for a in activities)
    assert all(
        a.record["id"]["time"] == format_time(a.time)
        and a.record["id"]["time"].endswith("Z")
        for a in activities
    )
    for app in APPLICATIONS:
        times = Counter(a.time for a in domain.activities[app])
        assert any(n > 1 for n in times.values()), app
        qualifiers = [a.qualifier for a in domain.activities[app]]
        assert len(set(qualifiers)) == len(qualifiers)
        assert all(-(2**63) <= q < 2**63 for q in qualifiers)
        assert any(q < 0 for q in qualifiers)
        assert min(a.time for a in domain.activities[app]) >= domain.start
        assert max(a.time for a in domain.activities[app]) < domain.end


def test_the_events_asked_for_are_shared_out():
    domain = Domain.generate(
        seed=3, events=5000, start=OPTIONS.end - timedelta(days=10), end=OPTIONS.end
    )
    counts = {
        app: sum(len(a.events) for a in domain.activities[app]) for app in APPLICATIONS
    }
    assert 4900 <= sum(counts.values()) <= 5200
    assert counts["gemini_in_workspace_apps"] > counts["login"] > counts["token"]
    assert counts["token"] > counts["gemini_notebook"]


def test_grants_reach_ai_and_ordinary_apps_in_order():
    domain = Domain.generate(
        seed=3, events=5000, start=OPTIONS.end - timedelta(days=20), end=OPTIONS.end
    )
    apps = Counter()
    first_seen: dict[tuple[str, str], datetime] = {}
    for activity in domain.activities["token"]:
        for event in activity.events:
            values = {p["name"]: p for p in event["parameters"]}
            name = values["app_name"]["value"]
            apps[name] += 1
            key = (activity.record["actor"]["email"], values["client_id"]["value"])
            if event["name"] == "authorize":
                assert values["scope"]["multiValue"]
                assert len(values["scope_data"]["multiMessageValue"]) == len(
                    values["scope"]["multiValue"]
                )
            first_seen.setdefault(key, activity.time)
    for name in ("ChatGPT", "Claude", "Otter.ai", "Fireflies.ai", "Perplexity", "Zoom"):
        assert apps[name], name


def test_history_stays_inside_the_apis_horizon():
    now = datetime.now(UTC)
    start, end = history_bounds(SandboxOptions(days=400))
    assert now - start < timedelta(days=180)
    assert end <= now
    with pytest.raises(ValueError, match="180 days"):
        history_bounds(SandboxOptions(end=now - timedelta(days=200)))


async def test_an_old_history_is_refused_clearly():
    options = SandboxOptions(end=datetime.now(UTC) - timedelta(days=365))
    with pytest.raises(ValueError, match="180 days"):
        async with GeminiSandbox.run(options):
            pass


def test_aiaudit_sandbox_gemini_serves_until_ctrl_c(tmp_path):
    process = subprocess.Popen(
        [str(AIAUDIT), "sandbox", "gemini", "--json", "--events", "300",
         "--seed", "3", "--ground-truth", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )  # fmt: skip
    try:
        described = json.loads(process.stdout.readline())
        assert described["platform"] == "gemini"
        config = described["config"]
        assert set(config) == CONFIG_KEYS
        key_file = Path(config["credentials_file"])
        assert key_file.is_file()
        request = urllib.request.Request(  # noqa: S310 - loopback URL we started
            f"{config['base_url']}/admin/reports/v1/activity/users/all"
            "/applications/login?maxResults=5"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310
        assert refused.value.code == 401
        refused.value.close()
        truth = json.loads((tmp_path / "expected_ids.json").read_text())
        assert len(truth) == described["details"]["events"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert not key_file.exists()


async def test_every_answer_passes_the_latency_middleware(sandbox):
    """The core's latency middleware is first, so errors and faults pay the
    round trip too (its timing is the core's to test)."""
    app = sandbox.api.app(OPTIONS)
    assert app.middlewares[0].__name__ == "add_latency"
    assert len(app.middlewares) == 2
