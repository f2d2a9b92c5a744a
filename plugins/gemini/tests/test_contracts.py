"""The sandbox against the Reports API's published contract: Google's
discovery document (``tests/contracts/admin.reports_v1.json``, byte for
byte) and the answers restated from Google's pages (see the folder's
README)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from _discovery import FORMATS, problems, validator
from conftest import (
    APPLICATIONS,
    OPTIONS,
    activities_path,
    assertion,
    exchange,
    mint,
    read_all,
)

from aiaudit_gemini.sandbox import api
from aiaudit_gemini.sandbox.data import AUDIT_SCOPE, format_time
from aiaudit_gemini.sandbox.server import GeminiSandbox
from aiaudit_gemini.sandbox.token import UNAUTHORIZED_CLIENT
from connector_core.testing.contracts import load_contract


CONTRACTS = Path(__file__).resolve().parent / "contracts"
DISCOVERY_FILE = CONTRACTS / "admin.reports_v1.json"
DISCOVERY_SHA256 = "0cd89e6c2112753644d417c70c850e98c7aa79b698200f12cddfd06335a6616f"
DISCOVERY = json.loads(DISCOVERY_FILE.read_text(encoding="utf-8"))
LIST = DISCOVERY["resources"]["activities"]["methods"]["list"]
ACTIVITIES = validator(DISCOVERY, "Activities")
VALUE_FIELDS = frozenset(
    {
        "value",
        "intValue",
        "boolValue",
        "multiValue",
        "multiIntValue",
        "messageValue",
        "multiMessageValue",
        "multiBoolValue",
    }
)
PAGES = (
    "gemini-page-1.json",
    "gemini-page-2-last.json",
    "activities-empty.json",
    "notebook-page.json",
    "token-page.json",
    "login-page.json",
)


def contract(name: str):
    return load_contract(CONTRACTS / name, remake="the README's instructions")


def page_problems(page) -> list[str]:
    """How a page breaks the discovery schema, or a parameter holds other
    than exactly one value field (the document's rule, in prose)."""
    found = problems(ACTIVITIES, page)
    items = page.get("items")
    for item in items if isinstance(items, list) else ():
        for event in item.get("events", ()):
            for parameter in event.get("parameters", ()):
                fields = VALUE_FIELDS & set(parameter)
                if len(fields) != 1:
                    found.append(f"parameter {parameter.get('name')}: {sorted(fields)}")
    return found


def test_the_discovery_document_is_googles_unchanged():
    assert hashlib.sha256(DISCOVERY_FILE.read_bytes()).hexdigest() == DISCOVERY_SHA256
    assert DISCOVERY["revision"] == "20260929"
    readme = (CONTRACTS / "README.md").read_text(encoding="utf-8")
    assert DISCOVERY_SHA256 in readme


def test_the_converted_schema_refuses_what_google_would_not_send():
    good = contract("gemini-page-1.json")["response"]["body"]
    assert page_problems(good) == []
    item = good["items"][0]
    for spoil in (
        lambda i: i.update(invented=True),
        lambda i: i["id"].update(uniqueQualifier=-12),
        lambda i: i["id"].update(uniqueQualifier="12a"),
        lambda i: i["id"].update(time="2026-11-20 09:41:07"),
        lambda i: i["id"].update(time="2026-13-20T09:41:07Z"),
        lambda i: i["events"][0]["parameters"][0].update(intValue=5),
        lambda i: i["networkInfo"].update(ipAsn=["64496"]),
        lambda i: i["events"][0]["parameters"][0].update(boolValue=True),
    ):
        spoiled = json.loads(json.dumps(item))
        spoil(spoiled)
        assert page_problems({"items": [spoiled]}), spoil


@pytest.mark.parametrize("name", PAGES)
def test_the_restated_pages_are_valid(name):
    fixture = contract(name)
    assert page_problems(fixture["response"]["body"]) == []
    query = {param for param, _ in fixture["request"]["query"]}
    assert query <= set(LIST["parameters"])


ACCEPTED = {
    "actorIpAddress": "192.0.2.10",
    "agentInfoFilter": 'agentId="a1" AND agentName="Helper"',
    "applicationInfoFilter": 'oAuthClientId="123.apps.googleusercontent.com"',
    "customerId": "my_customer",
    "deviceFilter": "deviceType=DESKTOP_CHROME",
    "endTime": "2099-01-01T00:00:00Z",
    "eventName": "login_success",
    "filters": "is_suspicious==false",
    "groupIdFilter": "id:abc123,id:def456",
    "includeSensitiveData": "false",
    "maxResults": "7",
    "networkInfoFilter": 'regionCode="US"',
    "orgUnitID": "id:03ph8a2z",
    "resourceDetailsFilter": 'resourceDetails.id = "doc1"',
    "statusFilter": 'statusCode="200"',
}


@pytest.mark.parametrize(
    "name", sorted(n for n, p in LIST["parameters"].items() if p["location"] == "query")
)
async def test_every_documented_parameter_is_accepted(client, headers, name):
    if name == "pageToken":
        async with client.get(
            activities_path("login"), params={"maxResults": "2"}, headers=headers
        ) as r:
            value = (await r.json())["nextPageToken"]
        params = {"maxResults": "2", "pageToken": value}
    elif name == "startTime":
        params = {"startTime": format_time(OPTIONS.end - timedelta(days=1))}
    else:
        params = {name: ACCEPTED[name]}
    pattern = LIST["parameters"][name].get("pattern")
    if pattern is not None:
        assert re.fullmatch(pattern, params[name]), name
    async with client.get(
        activities_path("login"), params=params, headers=headers
    ) as r:
        body = await r.json()
    assert r.status == 200, body


def test_the_error_fixture_is_googles_envelope():
    for case in contract("errors.json")["cases"]:
        error = case["body"]["error"]
        assert error["code"] == case["status"]
        assert {"message", "domain", "reason"} <= set(error["errors"][0])


def test_the_sandbox_serves_the_documented_method():
    assert f"/{LIST['path']}" == api.ACTIVITIES_PATH
    assert LIST["httpMethod"] == "GET"
    assert LIST["scopes"] == [AUDIT_SCOPE]
    assert AUDIT_SCOPE in DISCOVERY["auth"]["oauth2"]["scopes"]
    parameters = LIST["parameters"]
    in_path = {n for n, p in parameters.items() if p["location"] == "path"}
    in_query = {n for n, p in parameters.items() if p["location"] == "query"}
    assert in_path == {"userKey", "applicationName"}
    assert in_query == api.METHOD_PARAMETERS
    assert set(DISCOVERY["parameters"]) == api.STANDARD_PARAMETERS
    apps = set(re.findall(r"\(([a-z_]+)\)", parameters["applicationName"]["pattern"]))
    assert apps == api.ALL_APPLICATIONS
    assert set(APPLICATIONS) <= apps
    bounds = parameters["maxResults"]
    assert int(bounds["maximum"]) == api.MAX_RESULTS == int(bounds["default"])
    assert int(bounds["minimum"]) == 1
    for name in ("startTime", "endTime"):
        assert parameters[name]["pattern"] == api._RFC3339.pattern
    assert parameters["customerId"]["pattern"] == api._CUSTOMER.pattern
    kinds = DISCOVERY["schemas"]
    assert kinds["Activities"]["properties"]["kind"]["default"] == (
        "admin#reports#activities"
    )
    assert kinds["Activity"]["properties"]["kind"]["default"] == (
        "admin#reports#activity"
    )


async def test_every_page_of_a_full_read_is_valid(client, sandbox, headers):
    empty = contract("activities-empty.json")["response"]["body"]
    for app in APPLICATIONS:
        pages = await read_all(client, headers, app)
        for number, page in enumerate(pages):
            assert page_problems(page) == [], (app, number)
            assert set(page) <= set(
                ACTIVITIES.schema["$defs"]["Activities"]["properties"]
            )
        nothing = await read_all(client, headers, app, {"eventName": "no_such_event"})
        assert set(nothing[0]) == set(empty)


@pytest.mark.parametrize("profile", ["poisoned", "late"])
async def test_every_page_of_a_disturbed_read_is_valid(profile):
    options = OPTIONS.__class__(
        seed=OPTIONS.seed, events=600, days=OPTIONS.days, end=OPTIONS.end,
        faults=profile, publish_delay=3600.0,
    )  # fmt: skip
    async with (
        GeminiSandbox.run(options) as sandbox,
        aiohttp.ClientSession(base_url=sandbox.url) as client,
    ):
        headers = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
        served = []
        for _ in ("before publication", "after"):
            count = 0
            for app in APPLICATIONS:
                pages = await read_all(client, headers, app, {"maxResults": "50"})
                for page in pages:
                    assert page_problems(page) == [], app
                    count += len(page.get("items", ()))
            served.append(count)
            sandbox.api.publish_delay = 0.0  # the late events are published
        assert served[0]
        assert (served[0] < served[1]) == (profile == "late")


def test_every_application_and_shape_appears_in_the_history(sandbox):
    activities = sandbox.domain.activities
    gemini = activities["gemini_in_workspace_apps"]
    assert any("userDeviceInfo" in a.record for a in gemini)
    for app in ("gemini_notebook", "token", "login"):
        assert not any("userDeviceInfo" in a.record for a in activities[app])
    warnings = [
        a for a in activities["login"] if a.events[0]["type"] == "account_warning"
    ]
    assert warnings
    assert all("ipAddress" not in a.record for a in warnings)
    assert any(len(a.events) > 1 for a in activities["login"])
    assert any(len(a.events) > 1 for a in activities["token"])
    assert any(a.qualifier < 0 for a in gemini)
    names = {e["name"] for a in activities["token"] for e in a.events}
    assert names == {"authorize", "activity", "revoke"}
    notebook = {e["name"] for a in activities["gemini_notebook"] for e in a.events}
    assert notebook == {"chat", "create_notebook", "copy_notebook"}
    int_values = [
        p
        for a in activities["token"]
        for e in a.events
        for p in e["parameters"]
        if "intValue" in p
    ]
    assert int_values
    assert all(isinstance(p["intValue"], str) for p in int_values)


def test_sandbox_shapes_match_the_restated_items(sandbox):
    """The sandbox's records use the documented fields of the restated
    items, per application and event name, and no others."""
    documented: dict[tuple[str, str], set[str]] = {}
    for name in PAGES:
        for item in contract(name)["response"]["body"].get("items", ()):
            for event in item["events"]:
                key = (item["id"]["applicationName"], event["name"])
                names = {p["name"] for p in event.get("parameters", ())}
                documented.setdefault(key, set()).update(names)
    generated: dict[tuple[str, str], set[str]] = {}
    for activity in sandbox.domain.all_activities():
        for event in activity.events:
            key = (activity.application, event["name"])
            names = {p["name"] for p in event.get("parameters", ())}
            generated.setdefault(key, set()).update(names)
    compared = 0
    for key, names in documented.items():
        if key in generated:
            compared += 1
            assert generated[key] <= names | {"login_challenge_method"}, key
    assert compared >= 8


async def test_token_exchange_answers_as_documented(client, sandbox):
    fixture = contract("token-exchange.json")
    cases = {case["name"]: case for case in fixture["cases"]}
    success = cases["success"]["response"]["body"]
    signed = assertion(sandbox.key_file(), sandbox.domain.subject.email)
    status, body = await exchange(client, sandbox, signed)
    assert status == 200
    assert set(body) == set(success)
    assert body["expires_in"] == success["expires_in"]
    assert set(fixture["jwt_claims"]) == {"iss", "sub", "scope", "aud", "iat", "exp"}
    refused = cases["DWD not granted for this client id / scope"]["response"]
    signed = assertion(sandbox.key_file("undelegated"), sandbox.domain.subject.email)
    status, body = await exchange(client, sandbox, signed)
    assert (status, body) == (refused["status"], refused["body"])
    assert body["error_description"] == UNAUTHORIZED_CLIENT


async def test_errors_answer_as_documented(client, sandbox):
    cases = {c["name"]: c for c in contract("errors.json")["cases"]}
    denied = cases["401 caller is not an admin with Reports privilege"]
    token = await mint(client, sandbox, subject=sandbox.domain.restricted.email)
    async with client.get(
        activities_path("login"), headers={"Authorization": f"Bearer {token}"}
    ) as r:
        body = await r.json()
    assert r.status == denied["status"]
    assert body["error"]["message"] == denied["body"]["error"]["message"]
    assert body["error"]["errors"][0] == denied["body"]["error"]["errors"][0]
    forbidden = cases["403 not authorized"]
    admin = {"Authorization": f"Bearer {await mint(client, sandbox)}"}
    async with client.get(
        activities_path("login"),
        params={"includeSensitiveData": "true"},
        headers=admin,
    ) as r:
        body = await r.json()
    assert r.status == forbidden["status"]
    assert body["error"]["errors"][0] == forbidden["body"]["error"]["errors"][0]
    assert set(body["error"]) <= {"code", "message", "errors", "status"}


def test_the_time_format_checker_is_strict():
    assert FORMATS.conforms("2026-11-20T09:41:07.512Z", "date-time")
    assert FORMATS.conforms("2026-11-20T09:41:07+01:00", "date-time")
    assert not FORMATS.conforms("2026-11-20T09:41:07", "date-time")
    assert not FORMATS.conforms("2026-02-30T09:41:07Z", "date-time")
