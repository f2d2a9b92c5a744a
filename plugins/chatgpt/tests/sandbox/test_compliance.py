"""The sandbox's Compliance API, spoken to over real HTTP.

Two loopback servers run per test, as in the sandbox proper: the API, and
the object-storage origin its downloads redirect to. Everything a client
gets is compared with the ground truth of :class:`ComplianceData`, which is
what the connector's sync tests will rely on.
"""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from openapi_spec import validate
from yarl import URL

from aiaudit_chatgpt.sandbox._web import ApiError, SandboxKeys
from aiaudit_chatgpt.sandbox.compliance_api import compliance_routes
from aiaudit_chatgpt.sandbox.compliance_data import ComplianceData
from aiaudit_chatgpt.sandbox.compliance_records import (
    AUDIT_EVENT_TYPES,
    AUDIT_LOG,
    AUTH_LOG,
    CONVERSATION_MESSAGE,
    GENERATED_EVENT_TYPES,
)
from aiaudit_chatgpt.sandbox.compliance_storage import storage_routes
from aiaudit_chatgpt.sandbox.org import MODELS, Organization


if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence


END = datetime(2025, 3, 3, tzinfo=UTC)  # a Monday: two full weeks before it
START = END - timedelta(days=14)
MESSAGES = 3_000
KEYS = SandboxKeys(
    admin="sk-admin-sandbox-0000000000000000",
    admin_no_audit="sk-admin-sandbox-noaudit-00000000",
    compliance="sk-proj-compliance-sandbox-000000",
)
OWNED = {
    "object", "id", "created_at", "owner_id", "owner_email", "builder_name",
    "sharing", "latest_config",
}  # fmt: skip
SPEC_PROPERTIES = {
    "WorkspaceUser": {"object", "id", "email", "name", "created_at", "role", "status"},
    "GPT": OWNED,
    "Project": OWNED,
}
CONFIG_PROPERTIES = {
    "object", "id", "name", "description", "categories", "conversation_starters",
    "created_at", "instructions", "version_author", "files", "tools",
}  # fmt: skip
ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ISO_S = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
LOG_ID = re.compile(
    r"^log_(conv|auth)_\d{10}_[0-9a-f]{12}$|^log_audit_\d{8}_[0-9a-f]{12}$"
)


# -- servers ----------------------------------------------------------------


@web.middleware
async def render_api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    # The sandbox server's middleware does this; a bare app needs it too.
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()


@attrs.frozen
class Servers:
    api: TestServer
    storage: TestServer
    session: aiohttp.ClientSession
    data: ComplianceData

    @property
    def workspace(self) -> str:
        return f"/v1/compliance/workspaces/{self.data.workspace_id}"

    def url(self, path: str) -> URL:
        return self.api.make_url(f"{self.workspace}{path}")

    async def get(
        self,
        path: str,
        params: Sequence[tuple[str, str]] = (),
        *,
        key: str | None = KEYS.compliance,
        **kwargs: Any,
    ) -> aiohttp.ClientResponse:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return await self.session.get(
            self.url(path), params=list(params), headers=headers, **kwargs
        )

    async def json(
        self, path: str, params: Sequence[tuple[str, str]] = ()
    ) -> dict[str, Any]:
        async with await self.get(path, params) as response:
            assert response.status == 200, await response.text()
            return await response.json()


@pytest.fixture(scope="module")
def org() -> Organization:
    return Organization.generate(seed=7, events=5_000, start=START, end=END)


@pytest.fixture(scope="module")
def data(org) -> ComplianceData:
    return ComplianceData.generate(org, messages=MESSAGES)


def storage_base(server: TestServer) -> str:
    return f"http://{server.host}:{server.port}"


@pytest.fixture
async def servers(data) -> AsyncIterator[Servers]:
    storage_app = web.Application()
    storage_app.add_routes(storage_routes(data))
    storage = TestServer(storage_app, host="127.0.0.1")
    await storage.start_server()
    api_app = web.Application(middlewares=[render_api_errors])
    api_app.add_routes(
        compliance_routes(data, KEYS, storage_base=lambda: storage_base(storage))
    )
    api = TestServer(api_app, host="127.0.0.1")
    await api.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            yield Servers(api, storage, session, data)
    finally:
        await api.close()
        await storage.close()


def types_params(event_types: Sequence[str], **extra: str) -> list[tuple[str, str]]:
    return [("event_type", t) for t in event_types] + list(extra.items())


async def page_through(
    servers: Servers, event_types: Sequence[str], *, limit: int, **bounds: str
) -> tuple[list[dict[str, Any]], int]:
    """Every listed file, following ``after=last_end_time`` as clients do.

    The boundary file comes back on the next page, so files are deduped by id
    (first sighting kept). Returns the files and the number of pages.
    """
    seen: dict[str, dict[str, Any]] = {}
    after = bounds.pop("after", None)
    pages = 0
    while True:
        extra = {"limit": str(limit), **bounds}
        if after is not None:
            extra["after"] = after
        body = await servers.json("/logs", types_params(event_types, **extra))
        pages += 1
        for item in body["data"]:
            seen.setdefault(item["id"], item)
        if not body["has_more"]:
            return list(seen.values()), pages
        assert body["last_end_time"] == body["data"][-1]["end_time"]
        after = body["last_end_time"]
        assert pages < 1_000, "paging does not make progress"


async def download(servers: Servers, log_id: str) -> list[dict[str, Any]]:
    async with await servers.get(f"/logs/{log_id}", allow_redirects=False) as redirect:
        assert redirect.status == 307
        location = redirect.headers["Location"]
    async with servers.session.get(location) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "application/jsonl"
        body = await response.read()
    return [orjson.loads(line) for line in body.splitlines()]


# -- generation -------------------------------------------------------------


def test_same_seed_gives_the_same_data(org, data):
    again = ComplianceData.generate(
        Organization.generate(seed=7, events=5_000, start=START, end=END),
        messages=MESSAGES,
    )
    files = list(data.iter_log_files())
    assert list(again.iter_log_files()) == files
    for file in (*files[:3], files[len(files) // 2], files[-1]):
        assert list(again.iter_file_records(file.id)) == list(
            data.iter_file_records(file.id)
        )
    # And byte for byte, everything.
    for file in files:
        assert list(again.iter_file_lines(file.id)) == list(
            data.iter_file_lines(file.id)
        )
    assert again.users_page(None, 500) == data.users_page(None, 500)
    assert again.gpts_page(None, 500) == data.gpts_page(None, 500)
    assert again.projects_page(None, 500) == data.projects_page(None, 500)

    other = ComplianceData.generate(
        Organization.generate(seed=8, events=5_000, start=START, end=END),
        messages=MESSAGES,
    )
    assert [f.id for f in other.iter_log_files()] != [f.id for f in files]


def test_counts_and_files_are_consistent(data):
    assert data.records_count == {
        CONVERSATION_MESSAGE: MESSAGES,
        AUTH_LOG: MESSAGES // 8,
        AUDIT_LOG: MESSAGES // 40,
    }
    files = list(data.iter_log_files())
    assert [(f.end_time, f.id) for f in files] == sorted(
        (f.end_time, f.id) for f in files
    )
    assert len({f.id for f in files}) == len(files)
    per_type: Counter[str] = Counter()
    for file in files:
        assert LOG_ID.match(file.id), file.id
        assert file.records > 0
        width = (
            timedelta(days=1) if file.event_type == AUDIT_LOG else timedelta(hours=1)
        )
        assert file.end_time - file.start_time == width
        assert START <= file.start_time < END
        records = list(data.iter_file_records(file.id))
        assert len(records) == file.records
        stamps = [r["timestamp"] for r in records]
        assert stamps == sorted(stamps)
        assert all(r["type"] == file.event_type for r in records)
        first = datetime.fromisoformat(stamps[0])
        last = datetime.fromisoformat(stamps[-1])
        assert file.start_time <= first <= last < file.end_time
        per_type[file.event_type] += file.records
    assert dict(per_type) == data.records_count


def test_activity_has_a_daily_and_weekly_rhythm(org, data):
    by_weekday: Counter[bool] = Counter()
    by_hour: Counter[int] = Counter()
    by_user: Counter[str] = Counter()
    for file in data.iter_log_files([CONVERSATION_MESSAGE]):
        for record in data.iter_file_records(file.id):
            moment = datetime.fromisoformat(record["timestamp"])
            by_weekday[moment.weekday() < 5] += 1
            by_hour[moment.hour] += 1
            by_user[record["actor"]["user_id"]] += 1
    # Ten weekdays and four weekend days: per day, weekdays are far busier.
    assert by_weekday[True] / 10 > 3 * by_weekday[False] / 4
    assert by_hour[10] > 5 * by_hour[3]
    # A few heavy users: the busiest user writes several times the average.
    assert by_user.most_common(1)[0][1] > 3 * MESSAGES / len(org.users)


# -- listing ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_types", "limit"),
    [
        ([CONVERSATION_MESSAGE], 25),
        ([AUTH_LOG, AUDIT_LOG], 7),
        (list(GENERATED_EVENT_TYPES), 100),
        (list(GENERATED_EVENT_TYPES), 5),
    ],
)
async def test_paging_lists_every_file_once(servers, data, event_types, limit):
    listed, pages = await page_through(servers, event_types, limit=limit)
    expected = [f.listing_item() for f in data.iter_log_files(event_types)]
    assert listed == expected
    assert pages > len(expected) // limit
    for item in listed:
        assert set(item) == {"id", "event_type", "end_time", "file_name"}
        assert ISO_S.match(item["end_time"])
        assert item["file_name"] == f"{item['id']}.jsonl"


async def test_the_boundary_file_is_returned_again(servers):
    params = types_params([CONVERSATION_MESSAGE], limit="5")
    first = await servers.json("/logs", params)
    assert first["has_more"]
    assert len(first["data"]) == 5
    assert first["last_end_time"] == first["data"][-1]["end_time"]
    after = [*params, ("after", first["last_end_time"])]
    second = await servers.json("/logs", after)
    assert second["data"][0] == first["data"][-1]
    assert second["data"][1]["end_time"] > first["last_end_time"]


async def test_comma_separated_event_types_are_accepted(servers, data):
    body = await servers.json(
        "/logs", [("event_type", f"{AUTH_LOG},{AUDIT_LOG}"), ("limit", "100")]
    )
    expected = [f.listing_item() for f in data.iter_log_files([AUTH_LOG, AUDIT_LOG])]
    assert body["data"] == expected[:100]


async def test_before_and_after_bound_the_listing(servers, data):
    files = list(data.iter_log_files())
    low, high = files[len(files) // 4].end_time, files[len(files) // 2].end_time
    listed, _ = await page_through(
        servers,
        GENERATED_EVENT_TYPES,
        limit=10,
        after=low.isoformat(),
        before=high.isoformat().replace("+00:00", "Z"),
    )
    expected = [f.listing_item() for f in files if low <= f.end_time < high]
    assert listed == expected
    assert listed
    assert all(
        item["end_time"] < high.strftime("%Y-%m-%dT%H:%M:%SZ") for item in listed
    )

    # An offset other than UTC means the same instant.
    shifted = low.astimezone(timezone(timedelta(hours=2))).isoformat()
    body = await servers.json(
        "/logs", types_params(GENERATED_EVENT_TYPES, after=shifted, limit="3")
    )
    assert body["data"] == expected[:3]


async def test_empty_listing(servers):
    body = await servers.json(
        "/logs", types_params(["CODEX_LOG"], after="2020-01-01T00:00:00Z")
    )
    assert body == {
        "object": "list",
        "data": [],
        "has_more": False,
        "last_end_time": None,
    }
    late = (END + timedelta(days=2)).isoformat()
    body = await servers.json("/logs", types_params(GENERATED_EVENT_TYPES, after=late))
    assert body["data"] == []
    assert body["last_end_time"] is None


def assert_openai_error(body: dict[str, Any], *, param: str | None = None) -> None:
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["message"]
    if param is not None:
        assert body["error"]["param"] == param


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        (types_params([CONVERSATION_MESSAGE], limit="101"), 422, "limit"),
        (types_params([CONVERSATION_MESSAGE], limit="0"), 422, "limit"),
        (types_params([CONVERSATION_MESSAGE], limit="many"), 422, "limit"),
        ([("limit", "10")], 422, "event_type"),
        (types_params(["NOT_A_LOG"]), 422, "event_type"),
        (types_params([AUTH_LOG], after="2025-02-20T00:00:00"), 400, "after"),
        (types_params([AUTH_LOG], before="yesterday"), 400, "before"),
    ],
)
async def test_invalid_listing_parameters(servers, params, status, param):
    async with await servers.get("/logs", params) as response:
        assert response.status == status
        assert_openai_error(await response.json(), param=param)


async def test_limit_100_is_the_maximum_accepted(servers):
    body = await servers.json(
        "/logs", types_params([CONVERSATION_MESSAGE], limit="100")
    )
    assert len(body["data"]) == 100


# -- auth -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/logs?event_type=AUTH_LOG", "/users", "/gpts", "/projects", "/logs/log_x"]
)
@pytest.mark.parametrize(
    ("key", "code"),
    [
        (None, None),
        ("sk-wrong-key-0000000000", "invalid_api_key"),
        (KEYS.admin, "invalid_api_key"),
    ],
)
async def test_compliance_key_is_required(servers, path, key, code):
    headers = {} if key is None else {"Authorization": f"Bearer {key}"}
    async with servers.session.get(
        servers.api.make_url(f"{servers.workspace}{path}"), headers=headers
    ) as response:
        assert response.status == 401
        body = await response.json()
    assert_openai_error(body)
    assert body["error"]["code"] == code
    assert body["error"]["type"] == "invalid_request_error"


async def test_unknown_workspace_is_404(servers):
    url = servers.api.make_url(
        "/v1/compliance/workspaces/00000000-0000-4000-8000-000000000000/users"
    )
    headers = {"Authorization": f"Bearer {KEYS.compliance}"}
    async with servers.session.get(url, headers=headers) as response:
        assert response.status == 404
        assert_openai_error(await response.json(), param="workspace_id")


# -- downloads --------------------------------------------------------------


async def test_download_redirects_to_the_storage_origin(servers, data):
    file = max(data.iter_log_files(), key=lambda f: f.records)
    async with await servers.get(f"/logs/{file.id}", allow_redirects=False) as response:
        assert response.status == 307
        location = URL(response.headers["Location"])
    assert location.origin() == URL(storage_base(servers.storage))
    assert location.origin() != servers.api.make_url("/").origin()
    assert location.path == f"/compliance-exports/{file.id}.jsonl"
    expires = int(location.query["X-Expires"])
    assert time.time() + 3_000 < expires <= time.time() + 3_600 + 5

    records = await download(servers, file.id)
    assert records == list(data.iter_file_records(file.id))
    assert len(records) == file.records


async def test_following_the_redirect_drops_the_bearer_token(servers, data):
    # aiohttp (as httpx and requests) drops Authorization on a redirect to
    # another origin; that is why the storage URL is on one.
    file = next(data.iter_log_files([AUDIT_LOG]))
    async with await servers.get(f"/logs/{file.id}") as response:
        assert response.status == 200
        assert response.history[0].status == 307
        lines = (await response.read()).splitlines()
    assert [orjson.loads(line) for line in lines] == list(
        data.iter_file_records(file.id)
    )


async def test_every_file_downloads_as_its_ground_truth(servers, data):
    for file in data.iter_log_files([AUTH_LOG, AUDIT_LOG]):
        assert await download(servers, file.id) == list(data.iter_file_records(file.id))


async def signed_url(servers: Servers, log_id: str) -> str:
    async with await servers.get(f"/logs/{log_id}", allow_redirects=False) as response:
        return response.headers["Location"]


async def test_storage_rejects_a_second_auth_mechanism(servers, data):
    file = next(data.iter_log_files())
    location = await signed_url(servers, file.id)
    headers = {"Authorization": f"Bearer {KEYS.compliance}"}
    async with servers.session.get(location, headers=headers) as response:
        assert response.status == 400
        text = await response.text()
    assert "<Code>InvalidArgument</Code>" in text
    assert "Only one auth mechanism allowed" in text
    assert KEYS.compliance not in text


async def test_storage_rejects_a_tampered_signature(servers, data):
    first, second = list(data.iter_log_files())[:2]
    location = URL(await signed_url(servers, first.id))
    signature = location.query["X-Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    tampered = [
        location.update_query({"X-Signature": flipped}),
        location.update_query(
            {"X-Expires": str(int(location.query["X-Expires"]) + 60)}
        ),
        URL(str(location).replace(first.id, second.id)),
        location.with_query(None),
        location.update_query({"X-Signature": "\u00e9" * len(signature)}),
        location.update_query({"X-Expires": "soon"}),
    ]
    for url in tampered:
        async with servers.session.get(url) as response:
            assert response.status == 403, url
            assert "<Error>" in await response.text()


async def test_storage_rejects_an_expired_url(servers, data):
    file = next(data.iter_log_files())
    expired = data.signer.url(
        storage_base(servers.storage), file.id, expires=int(time.time()) - 1
    )
    async with servers.session.get(expired) as response:
        assert response.status == 403
        assert "Request has expired" in await response.text()
    still_valid = data.signer.url(
        storage_base(servers.storage), file.id, expires=int(time.time()) + 60
    )
    async with servers.session.get(still_valid) as response:
        assert response.status == 200


async def test_unknown_log_id_is_404(servers):
    async with await servers.get("/logs/log_conv_2025010100_000000000000") as response:
        assert response.status == 404
        assert_openai_error(await response.json(), param="log_id")


# -- record shapes ----------------------------------------------------------

ENVELOPE = {"event_id", "type", "principal", "actor", "timestamp"}


def check_conversation_message(
    record: dict[str, Any], org: Organization, data: ComplianceData
) -> None:
    assert set(record) == ENVELOPE | {"message", "conversation"}
    assert record["type"] == CONVERSATION_MESSAGE
    assert record["principal"] == {"id": org.workspace_id, "type": "CHATGPT_WORKSPACE"}
    actor = record["actor"]
    assert actor["type"] == "ACCOUNT_USER"
    assert actor["user_email"] == next(
        u.email for u in org.users if u.id == actor["user_id"]
    )
    assert ISO_US.match(record["timestamp"])
    message, conversation = record["message"], record["conversation"]
    assert set(message) == {
        "id", "parent_id", "created_at", "author", "content", "files", "annotations"
    }  # fmt: skip
    assert message["created_at"] == record["timestamp"]
    assert message["content"]["type"] == "text"
    assert message["content"]["value"]
    author = message["author"]
    assert author["role"] in {"user", "assistant"}
    assert author["type"] == author["role"]
    assert author["client_type"]
    if author["role"] == "assistant":
        assert author["model"] in MODELS
        assert message["files"] == []
    sent = datetime.fromisoformat(record["timestamp"]).timestamp()
    for file in message["files"]:
        assert set(file) == {"id", "object", "name", "created_at", "download_url"}
        assert file["object"] == "compliance.workspace.conversation.message.file"
        assert file["id"].startswith("file-")
        assert "." in file["name"]
        assert isinstance(file["created_at"], float)
        assert file["created_at"] < sent
    for annotation in message["annotations"]:
        assert annotation["parent_message_id"] == message["id"]
    required = {"id", "title", "created_at", "is_pinned", "is_temporary_chat"}
    optional = {"gpt_id", "gpt_name", "project_id", "project_name"}
    assert required <= set(conversation) <= required | optional
    assert ISO_US.match(conversation["created_at"])
    if "gpt_id" in conversation:
        gpt = next(g for g in org.gpts if g.id == conversation["gpt_id"])
        assert conversation["gpt_name"] == gpt.name
    if "project_id" in conversation:
        project = next(
            p for p in data.projects if data.project_id(p) == conversation["project_id"]
        )
        assert conversation["project_name"] == project.name


async def test_conversation_message_records(servers, org, data):
    threads: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for file in data.iter_log_files([CONVERSATION_MESSAGE]):
        for record in await download(servers, file.id):
            check_conversation_message(record, org, data)
            threads[record["conversation"]["id"]].append(record)
    records = [record for thread in threads.values() for record in thread]
    assert len(records) == MESSAGES
    user_messages = [r for r in records if r["message"]["author"]["role"] == "user"]
    with_files = [r for r in user_messages if r["message"]["files"]]
    assert 0.05 < len(with_files) / len(user_messages) < 0.15
    assert any(len(r["message"]["files"]) > 1 for r in with_files)
    assert any("gpt_id" in r["conversation"] for r in records)
    assert any("project_id" in r["conversation"] for r in records)
    assert len({r["message"]["id"] for r in records}) == MESSAGES
    for thread in threads.values():
        # Records are in time order, so each thread reads as a conversation:
        # a prompt, its answer, the next prompt..., each the parent's child.
        assert 2 <= len(thread) <= 16
        assert len({r["actor"]["user_id"] for r in thread}) == 1
        assert thread[0]["message"]["parent_id"] is None
        assert thread[0]["conversation"]["created_at"] == thread[0]["timestamp"]
        for k, record in enumerate(thread):
            role = "assistant" if k % 2 else "user"
            assert record["message"]["author"]["role"] == role
            if k:
                assert record["message"]["parent_id"] == thread[k - 1]["message"]["id"]


def test_auth_and_audit_records(org, data):
    owners_and_admins = {
        u.id for u in org.users if data.workspace_role(u) != "standard-user"
    }
    seen: Counter[str] = Counter()
    for file in data.iter_log_files([AUTH_LOG, AUDIT_LOG]):
        for record in data.iter_file_records(file.id):
            assert set(record) >= ENVELOPE
            assert ISO_US.match(record["timestamp"])
            assert record["workspace_id"] == org.workspace_id
            details = record["event_details"]
            assert details["detail_type"] == record["event_type"]
            seen[record["event_type"]] += 1
            if record["type"] == AUTH_LOG:
                assert details["auth_method"] in {"sso", "password"}
                assert details["user_agent"]
                assert re.match(r"^\d+\.\d+\.\d+\.\d+$", details["ip_address"])
                failed = record["event_type"] == "LOGIN_FAILED"
                assert ("failure_reason" in details) == failed
            else:
                assert record["event_type"] in AUDIT_EVENT_TYPES
                assert record["actor"]["user_id"] in owners_and_admins
    assert seen["LOGIN_SUCCEEDED"] > 10 * seen["LOGIN_FAILED"] > 0
    assert all(seen[t] for t in AUDIT_EVENT_TYPES)


# -- legacy listings ---------------------------------------------------------


async def page_by_id(
    servers: Servers, path: str, limit: int | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """All objects of a legacy listing, following ``after=last_id``."""
    items: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []
    after = None
    while True:
        params = [] if limit is None else [("limit", str(limit))]
        if after is not None:
            params.append(("after", after))
        body = await servers.json(path, params)
        bodies.append(body)
        items.extend(body["data"])
        assert body["last_id"] == body["data"][-1]["id"]
        if not body["has_more"]:
            return items, bodies
        after = body["last_id"]


@pytest.mark.parametrize(
    ("path", "schema", "limit", "default"),
    [
        ("/users", "WorkspaceUser", 7, 200),
        ("/gpts", "GPT", 1, 20),
        ("/projects", "Project", 2, 20),
    ],
)
async def test_legacy_listings_page_and_match_the_spec(
    servers, path, schema, limit, default
):
    items, bodies = await page_by_id(servers, path, limit)
    for body in bodies:
        validate("compliance", "GenericList", body)
        assert set(body) == {"object", "data", "last_id", "has_more"}
        assert len(body["data"]) <= limit
    ids = [item["id"] for item in items]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for item in items:
        validate("compliance", schema, item)
        # The schemas allow any extra key; the objects carry exactly the
        # spec's properties.
        assert set(item) == SPEC_PROPERTIES[schema]
        for config in item.get("latest_config", {}).get("data", []):
            assert set(config) <= CONFIG_PROPERTIES

    everything, default_pages = await page_by_id(servers, path, None)
    assert everything == items
    data = servers.data
    expected = {"/users": data.org.users, "/gpts": data.org.gpts}.get(
        path, data.projects
    )
    assert len(items) == len(expected)
    assert len(bodies) == -(-len(items) // limit)
    assert len(default_pages) == -(-len(items) // default)


async def test_users_match_the_organization(servers, org):
    users, _ = await page_by_id(servers, "/users", None)
    by_id = {u["id"]: u for u in users}
    assert {u.id for u in org.users} == set(by_id)
    for user in org.users:
        listed = by_id[user.id]
        assert listed["email"] == user.email
        assert listed["name"] == user.name
        assert listed["created_at"] == user.added_at
        if user.role == "owner":
            assert listed["role"] == "account-owner"
    roles = Counter(u["role"] for u in users)
    assert roles["account-owner"] == 2
    assert roles["account-admin"] >= 1
    assert roles["standard-user"] > roles["account-admin"]


async def test_gpts_and_projects_carry_their_configuration(servers, org, data):
    gpts, _ = await page_by_id(servers, "/gpts", None)
    owners = {u.id: u for u in org.users}
    for gpt, source in zip(gpts, sorted(org.gpts, key=lambda g: g.id), strict=True):
        assert gpt["id"] == source.id
        assert owners[gpt["owner_id"]].email == gpt["owner_email"]
        (config,) = gpt["latest_config"]["data"]
        assert config["name"] == source.name
        assert config["instructions"] == source.instructions
        assert len(config["tools"]["data"]) == len(source.tools)
    projects, _ = await page_by_id(servers, "/projects", None)
    assert {p["id"] for p in projects} == {data.project_id(p) for p in data.projects}
    assert all(p["id"].startswith("g-p-") for p in projects)


async def test_legacy_limit_is_clamped_not_rejected(servers, org):
    body = await servers.json("/users", [("limit", "100000")])
    assert len(body["data"]) == min(len(org.users), 200)
    async with await servers.get("/users", [("limit", "0")]) as response:
        assert response.status == 422
        assert_openai_error(await response.json(), param="limit")


async def test_legacy_after_an_unknown_id_resumes_at_its_place(servers, org):
    ids = sorted(u.id for u in org.users)
    body = await servers.json("/users", [("after", ids[3] + "0"), ("limit", "2")])
    assert [u["id"] for u in body["data"]] == ids[4:6]
    body = await servers.json("/users", [("after", "~"), ("limit", "2")])
    assert body == {"object": "list", "data": [], "last_id": None, "has_more": False}


# -- scale ------------------------------------------------------------------


def test_build_at_200k_messages(org):
    started = time.perf_counter()
    big = ComplianceData.generate(org, messages=200_000)
    elapsed = time.perf_counter() - started
    print(f"built 200,000 messages in {elapsed:.2f} s")
    assert big.records_count[CONVERSATION_MESSAGE] == 200_000
    files = list(big.iter_log_files())
    per_type: Counter[str] = Counter()
    for file in files:
        per_type[file.event_type] += file.records
    assert dict(per_type) == big.records_count
    assert [(f.end_time, f.id) for f in files] == sorted(
        (f.end_time, f.id) for f in files
    )
    # Paging the ground truth by the listing rules reaches every file.
    after, seen = None, {}
    while True:
        page, more = big.list_log_files(GENERATED_EVENT_TYPES, after=after, limit=100)
        seen.update((f.id, f) for f in page)
        if not more:
            break
        after = page[-1].end_time
    assert list(seen.values()) == files
