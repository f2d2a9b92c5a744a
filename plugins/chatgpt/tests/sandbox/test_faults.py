"""The sandbox's fault injection, observed on the wire.

Every profile is checked with a plain ``aiohttp.ClientSession`` (no retries)
so the test sees exactly what a client meets; the retrying transport is then
shown to get through all of it with nothing lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest
import yarl
from aiohttp import web

from aiaudit_chatgpt.sandbox.audit import AuditQuery
from aiaudit_chatgpt.sandbox.faults import (
    FAULTS,
    PROFILES,
    STORAGE_FAULTS,
    FaultInjector,
)
from aiaudit_chatgpt.sandbox.poison import dumps as poison_dumps
from aiaudit_chatgpt.sandbox.server import ChatGPTSandbox
from connector_core import Secret
from connector_core.http import HTTPTransport, RetryPolicy
from connector_core.sandbox import SandboxOptions
from connector_core.testing import ConformanceDetails


END = datetime(2025, 6, 1, tzinfo=UTC)
AUDIT = "/v1/organization/audit_logs"
DISCONNECTS = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientOSError,
    aiohttp.ClientPayloadError,
)


@contextlib.asynccontextmanager
async def running(faults, rate, **tweaks):
    """A full sandbox with *faults* at *rate*; *tweaks* set injector attributes."""
    options = SandboxOptions(
        seed=11, events=2_000, days=7, end=END, faults=faults, fault_rate=rate
    )
    async with ChatGPTSandbox.run(options) as sandbox:
        for name, value in tweaks.items():
            setattr(sandbox.state.faults, name, value)
        yield sandbox


@contextlib.asynccontextmanager
async def tiny(injector, *, storage=False):
    """A one-route app behind the injector, for what needs no real data."""

    async def items(request):
        return web.json_response({"object": "list", "data": list(range(50))})

    app = web.Application(middlewares=[injector.middleware(storage=storage)])
    app.router.add_get("/v1/items", items)
    app.router.add_get("/health", items)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def show(*parts):
    """Print a report line; with ``-s`` the counters are the chaos report."""
    print(*parts)


def admin(sandbox):
    return {"Authorization": f"Bearer {sandbox.keys.admin}"}


def ground_truth(sandbox):
    audit = sandbox.state.audit
    return [audit.event_id(i) for i in audit.select(AuditQuery())]


async def outcome(http, url, **kwargs):
    """What one request ended in: a status, or the name of the exception."""
    try:
        async with http.get(url, **kwargs) as response:
            body = await response.read()
    except DISCONNECTS:
        return "disconnect"
    except TimeoutError:
        return "timeout"
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return f"{response.status} not json"
    return str(response.status)


# -- construction ------------------------------------------------------------


def test_unknown_profile_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown fault profile 'chaos'") as caught:
        FaultInjector("chaos", rate=0.1, seed=1)
    for name in PROFILES:
        assert name in str(caught.value)


@pytest.mark.parametrize(
    "settings",
    [
        {"rate": 1.5},
        {"rate": -0.1},
        {"slow_seconds": -1.0},
        {"storm_length": -1},
        {"retry_after": 0},
    ],
)
def test_settings_out_of_range_are_refused(settings):
    with pytest.raises(ValueError, match="must be"):
        FaultInjector("mixed", **{"rate": 0.1, "seed": 1, **settings})


def test_mixed_plans_every_fault_at_about_a_seventh_of_the_rate():
    injector = FaultInjector("mixed", rate=0.35, seed=3)
    plans = [injector.plan(n) for n in range(20_000)]
    for name in FAULTS:
        share = plans.count(name) / len(plans)
        assert 0.04 < share < 0.06, (name, share)
    assert plans.count(None) / len(plans) == pytest.approx(0.65, abs=0.02)


def test_same_seed_same_plan():
    first = FaultInjector("mixed", rate=0.3, seed=7)
    again = FaultInjector("mixed", rate=0.3, seed=7)
    other = FaultInjector("mixed", rate=0.3, seed=8)
    plan = [first.plan(n) for n in range(500)]
    assert plan == [again.plan(n) for n in range(500)]
    assert plan != [other.plan(n) for n in range(500)]


# -- determinism and bounds on the wire ------------------------------------


async def test_same_seed_same_faults_on_the_wire():
    async def run():
        injector = FaultInjector("mixed", rate=0.5, seed=5, slow_seconds=1.0)
        timeout = aiohttp.ClientTimeout(total=0.5)
        async with tiny(injector) as url, aiohttp.ClientSession() as http:
            seen = [
                await outcome(http, f"{url}/v1/items?page={n}", timeout=timeout)
                for n in range(40)
            ]
        return seen, injector.injected, injector.requests_seen

    first, again = await run(), await run()
    show("outcomes:", first[0], "injected:", dict(first[1]))
    assert first == again
    assert first[1].total() > 0


async def test_rate_zero_injects_nothing():
    async with running("mixed", 0.0) as sandbox, aiohttp.ClientSession() as http:
        for n in range(40):
            async with http.get(
                f"{sandbox.api_url}{AUDIT}?limit={n % 5 + 1}", headers=admin(sandbox)
            ) as response:
                assert response.status == 200
                await response.json()
        faults = sandbox.state.faults
        assert faults.requests_seen == 40
        assert not faults.injected


async def test_only_api_routes_are_disturbed():
    injector = FaultInjector("server_error", rate=1.0, seed=1)
    async with tiny(injector) as url, aiohttp.ClientSession() as http:
        for _ in range(5):
            assert await outcome(http, f"{url}/health") == "200"
    assert injector.requests_seen == 0


async def test_storage_gets_only_storage_faults():
    for profile in ("rate_limit", "html", "duplicates"):
        injector = FaultInjector(profile, rate=1.0, seed=1)
        async with tiny(injector, storage=True) as url, aiohttp.ClientSession() as s:
            for n in range(10):
                assert await outcome(s, f"{url}/v1/items?n={n}") == "200"
        assert not injector.injected
    mixed = FaultInjector("mixed", rate=1.0, seed=2, slow_seconds=0.01)
    async with tiny(mixed, storage=True) as url, aiohttp.ClientSession() as http:
        for n in range(80):
            await outcome(http, f"{url}/v1/items?n={n}")
    show("storage, mixed:", dict(mixed.injected))
    # Cutting a download takes the storage handler's cooperation (it knows
    # the full length); this stand-in handler does not, the real one does.
    # (Stalls and drips are storage faults of their own profiles; mixed
    # draws neither.)
    assert set(mixed.injected) == STORAGE_FAULTS - {"truncated", "stall", "drip"}


async def test_a_retried_request_is_not_faulted_again():
    # Rate 1 faults every fresh request; the retry of one must still pass.
    injector = FaultInjector("mixed", rate=1.0, seed=9, slow_seconds=0.01)
    async with tiny(injector) as url, aiohttp.ClientSession() as http:
        for n in range(30):
            attempts = [await outcome(http, f"{url}/v1/items?n={n}") for _ in range(5)]
            assert "200" in attempts, attempts
    show("rate 1.0:", dict(injector.injected))


# -- each profile on the wire -----------------------------------------------


async def test_rate_limit_storm_429_with_retry_after():
    async with (
        running("rate_limit", 1.0) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        url = f"{sandbox.api_url}{AUDIT}?limit=3"
        statuses = []
        for attempt in range(5):
            async with http.get(url, headers=admin(sandbox)) as response:
                statuses.append(response.status)
                body = await response.json()
                if attempt == 0:
                    assert response.headers["Retry-After"] == "1"
                    assert response.content_type == "application/json"
                    error = body["error"]
                    assert set(error) == {"message", "type", "param", "code"}
                    assert error["type"] == "requests"
                    assert error["code"] == "rate_limit_exceeded"
                    assert error["param"] is None
        # The trigger, then storm_length more, then the retry gets through.
        assert statuses == [429, 429, 429, 429, 200]
        assert sandbox.state.faults.injected["rate_limit"] == 4


async def test_rate_limit_retry_after_is_configurable():
    injector = FaultInjector("rate_limit", rate=1.0, seed=1, retry_after=7)
    async with (
        tiny(injector) as url,
        aiohttp.ClientSession() as http,
        http.get(f"{url}/v1/items") as response,
    ):
        assert response.status == 429
        assert response.headers["Retry-After"] == "7"


async def test_server_error_5xx_with_error_json():
    async with (
        running("server_error", 1.0) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        statuses = set()
        for n in range(30):
            url = f"{sandbox.api_url}{AUDIT}?limit={n % 10 + 1}&n={n}"
            async with http.get(url, headers=admin(sandbox)) as response:
                statuses.add(response.status)
                error = (await response.json())["error"]
                assert error["type"] == "server_error"
                assert error["message"]
                assert set(error) == {"message", "type", "param", "code"}
                if "Retry-After" in response.headers:
                    assert response.status == 503
        assert statuses == {500, 502, 503}


async def test_reset_is_a_client_side_disconnect():
    async with running("reset", 1.0) as sandbox, aiohttp.ClientSession() as http:
        url = f"{sandbox.api_url}{AUDIT}?limit=2"
        with pytest.raises(DISCONNECTS) as caught:
            async with http.get(url, headers=admin(sandbox)) as response:
                await response.read()
        show("reset seen as", type(caught.value).__name__, caught.value)
        # aiohttp re-sent the GET once on its own; both connections dropped.
        assert sandbox.state.faults.injected["reset"] == 2
        async with http.get(url, headers=admin(sandbox)) as response:
            assert response.status == 200


async def test_slow_answer_times_out_the_client():
    async with (
        running("slow", 1.0, slow_seconds=0.5) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        url = f"{sandbox.api_url}{AUDIT}?limit=2"
        timeout = aiohttp.ClientTimeout(total=0.2)
        with pytest.raises(TimeoutError):
            async with http.get(url, headers=admin(sandbox), timeout=timeout) as r:
                await r.read()
        async with http.get(url, headers=admin(sandbox)) as r:
            assert r.status == 200
        assert sandbox.state.faults.injected["slow"] == 1


async def test_slow_answer_is_served_to_a_patient_client():
    injector = FaultInjector("slow", rate=1.0, seed=1, slow_seconds=0.2)
    async with tiny(injector) as url, aiohttp.ClientSession() as http:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await outcome(http, f"{url}/v1/items") == "200"
        assert loop.time() - started >= 0.2


async def test_truncated_json_does_not_decode():
    async with running("truncated", 1.0) as sandbox, aiohttp.ClientSession() as http:
        url = f"{sandbox.api_url}{AUDIT}?limit=20"
        async with http.get(url, headers=admin(sandbox)) as response:
            assert response.status == 200
            assert response.content_type == "application/json"
            cut = await response.read()
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(cut)
        async with http.get(url, headers=admin(sandbox)) as response:
            whole = await response.read()
        assert orjson.loads(whole)["object"] == "list"
        assert whole.startswith(cut)
        assert len(cut) == len(whole) // 2


async def test_truncated_download_is_a_payload_error():
    async with running("truncated", 0.0) as sandbox, aiohttp.ClientSession() as http:
        workspace = sandbox.state.org.workspace_id
        compliance = {"Authorization": f"Bearer {sandbox.keys.compliance}"}
        base = f"{sandbox.api_url}/v1/compliance/workspaces/{workspace}/logs"
        async with http.get(
            base, params={"event_type": "CONVERSATION_MESSAGE"}, headers=compliance
        ) as response:
            assert response.status == 200
            log_id = (await response.json())["data"][0]["id"]
        async with http.get(
            f"{base}/{log_id}", headers=compliance, allow_redirects=False
        ) as response:
            assert response.status in {302, 307}
            location = response.headers["Location"]
        assert location.startswith(sandbox.storage_url)

        sandbox.state.faults.rate = 1.0
        response = await http.get(location)
        assert response.status == 200
        announced = response.content_length
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
        response.release()
        assert sandbox.state.faults.injected["truncated"] == 1
        # The retry of the same URL is spared and gets the whole file.
        async with http.get(location) as response:
            whole = await response.read()
        assert announced == len(whole)
        lines = whole.splitlines()
        assert lines
        for line in lines:
            orjson.loads(line)


async def test_truncated_leaves_errors_and_redirects_whole():
    async with running("truncated", 0.0) as sandbox, aiohttp.ClientSession() as http:
        workspace = sandbox.state.org.workspace_id
        compliance = {"Authorization": f"Bearer {sandbox.keys.compliance}"}
        base = f"{sandbox.api_url}/v1/compliance/workspaces/{workspace}/logs"
        async with http.get(
            base, params={"event_type": "CONVERSATION_MESSAGE"}, headers=compliance
        ) as response:
            log_id = (await response.json())["data"][0]["id"]

        sandbox.state.faults.rate = 1.0
        async with http.get(
            f"{sandbox.api_url}{AUDIT}", headers={"Authorization": "Bearer nope"}
        ) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "invalid_api_key"
        async with http.get(f"{base}/no-such-log", headers=compliance) as response:
            assert response.status == 404
            await response.json()
        async with http.get(
            f"{base}/{log_id}", headers=compliance, allow_redirects=False
        ) as response:
            assert response.status in {302, 307}
            assert response.headers["Location"].startswith(sandbox.storage_url)
        assert not sandbox.state.faults.injected


async def test_html_page_with_status_200():
    async with running("html", 1.0) as sandbox, aiohttp.ClientSession() as http:
        url = f"{sandbox.api_url}{AUDIT}"
        async with http.get(url, headers=admin(sandbox)) as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            text = await response.text()
        assert text.lstrip().lower().startswith("<!doctype html>")
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)


async def test_duplicates_repeat_the_boundary_record():
    async with (
        running("duplicates", 1.0) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        url = f"{sandbox.api_url}{AUDIT}"
        async with http.get(url, params={"limit": 10}, headers=admin(sandbox)) as r:
            first = await r.json()
        assert len(first["data"]) == 10
        async with http.get(
            url, params={"limit": 10, "after": first["last_id"]}, headers=admin(sandbox)
        ) as r:
            second = await r.json()
        ids = [record["id"] for record in second["data"]]
        assert ids[0] == first["last_id"] == first["data"][-1]["id"]
        assert second["first_id"] == first["last_id"]
        assert ids[1:] == ground_truth(sandbox)[10:20]
        assert sandbox.state.faults.injected["duplicates"] == 1


# -- mixed, and a retrying client ------------------------------------------


async def test_mixed_injects_every_kind():
    async with (
        running("mixed", 0.5, slow_seconds=0.3) as sandbox,
        aiohttp.ClientSession() as http,
    ):
        ids = ground_truth(sandbox)
        timeout = aiohttp.ClientTimeout(total=0.15)
        seen = []
        for n in range(200):
            url = f"{sandbox.api_url}{AUDIT}?limit=5&after={ids[n * 5]}"
            seen.append(
                await outcome(http, url, headers=admin(sandbox), timeout=timeout)
            )
        faults = sandbox.state.faults
        show("mixed @0.5:", faults.report())
        show("client saw:", {o: seen.count(o) for o in sorted(set(seen))})
        assert set(faults.injected) == set(FAULTS)
        assert faults.requests_seen >= 200


@pytest.mark.parametrize(("rate", "limit"), [(0.2, 25), (1.0, 100)])
async def test_retrying_client_always_gets_everything(rate, limit):
    async def no_sleep(seconds):
        return

    policy = RetryPolicy(max_attempts=6, backoff_base=0.001, jitter=False)
    async with running("mixed", rate, slow_seconds=0.6) as sandbox:
        transport = HTTPTransport(
            f"{sandbox.api_url}/v1",
            api_key=Secret(sandbox.keys.admin),
            retry=policy,
            sleep=no_sleep,
            timeout=0.3,
        )
        collected = []
        async with transport:
            params = {"limit": limit}
            while True:
                page = await transport.get_json(
                    "organization/audit_logs", params=params
                )
                collected.extend(record["id"] for record in page["data"])
                if not page["has_more"]:
                    break
                params = {"limit": limit, "after": page["last_id"]}
        faults = sandbox.state.faults
        show(
            f"rate {rate}: requests {transport.requests_made}, faults "
            f"{dict(faults.injected)}, retries {transport.retries}"
        )
        unique = list(dict.fromkeys(collected))
        assert unique == ground_truth(sandbox)
        assert len(collected) - len(unique) == faults.injected["duplicates"]
        assert faults.injected.total() > 0
        assert transport.retries > 0


# -- redirect: every API request sent to a signed URL on the same origin -------


async def test_redirect_sends_every_api_request_to_a_signed_url_on_the_same_origin():
    """Admin and Compliance API requests, listings and downloads, are each
    a 307 to the same origin, path and query plus a signature; the hop is
    served only without any credential."""
    async with running("redirect", 1.0) as sandbox, aiohttp.ClientSession() as http:
        workspace = sandbox.state.org.workspace_id
        compliance = {"Authorization": f"Bearer {sandbox.keys.compliance}"}
        logs = f"{sandbox.api_url}/v1/compliance/workspaces/{workspace}/logs"
        origin = sandbox.api_url
        for url, headers, params in [
            (f"{origin}{AUDIT}", admin(sandbox), {"limit": "5"}),
            (logs, compliance, {"event_type": "AUTH_LOG"}),
            (f"{logs[:-5]}/gpts", compliance, {"limit": "3"}),
        ]:
            async with http.get(
                url, headers=headers, params=params, allow_redirects=False
            ) as response:
                assert response.status == 307
                location = response.headers["Location"]
            target = yarl.URL(location)
            assert not target.is_absolute() or target.origin() == yarl.URL(origin)
            assert target.path == yarl.URL(url).path
            assert {**params, "signature": target.query["signature"]} == dict(
                target.query
            )
            hop = yarl.URL(origin).join(target)
            # A hop with the key (or only the organization header) is refused
            # the way a pre-signed URL's host refuses a second credential.
            for extra in (headers, {"OpenAI-Organization": "org-x"}):
                async with http.get(hop, headers=extra) as response:
                    assert response.status == 400
                    error = (await response.json())["error"]
                    assert "only one auth mechanism allowed" in error["message"].lower()
            async with http.get(hop) as response:
                assert response.status == 200, await response.text()
                page = await response.json()
            assert page["data"]
            # A forged signature is refused.
            forged = hop.update_query({"signature": "x.y"})
            async with http.get(forged) as response:
                assert response.status == 400
        # A client that keeps its key across the redirect is refused.
        async with http.get(
            logs, params={"event_type": "AUTH_LOG"}, headers=compliance
        ) as response:
            assert response.status == 400
        async with http.get(
            logs,
            params={"event_type": "AUTH_LOG"},
            headers=compliance,
            allow_redirects=False,
        ) as response:
            hop = yarl.URL(origin).join(yarl.URL(response.headers["Location"]))
        async with http.get(hop) as response:
            file_id = (await response.json())["data"][0]["id"]
        async with http.get(
            f"{logs}/{file_id}", headers=compliance, allow_redirects=False
        ) as response:
            assert response.status == 307
            hop = yarl.URL(origin).join(yarl.URL(response.headers["Location"]))
        async with http.get(hop, allow_redirects=False) as response:
            assert response.status == 307
            download = response.headers["Location"]
        # The download itself is on the same host and port too.
        assert download.startswith(origin)
        async with http.get(download) as response:
            assert response.status == 200
            assert (await response.read()).count(b"\n") >= 1
        observed = sandbox.state.faults.observed
        assert observed["redirect_hops"] >= 13
        assert observed["credentialed_hops"] == 7
        details = sandbox.describe().details
        # The profile the suite will ask for (the default name: none given).
        assert ConformanceDetails.from_details(details).faults["redirect"] == "redirect"
        assert details["conformance"]["observed"] is observed


async def test_the_transport_reads_everything_through_redirects():
    """The shared transport drops every credential on a hop, so a read under
    ``redirect`` gets every record, and the sandbox saw no credentialed hop."""
    async with running("redirect", 1.0) as sandbox:
        transport = HTTPTransport(
            f"{sandbox.api_url}/v1",
            api_key=Secret(sandbox.keys.admin),
            headers={"OpenAI-Organization": sandbox.state.org.org_id},
        )
        async with transport:
            seen = []
            after = None
            while True:
                params = [("limit", 100)] + ([("after", after)] if after else [])
                page = await transport.get_json(
                    "/organization/audit_logs", params=params
                )
                seen.extend(r["id"] for r in page["data"])
                if not page["has_more"]:
                    break
                after = page["last_id"]
        assert seen == ground_truth(sandbox)
        observed = sandbox.state.faults.observed
        assert observed["redirect_hops"] > 0
        assert observed["credentialed_hops"] == 0


# -- poisoned: records no store takes as they are ----------------------------------


async def test_poisoned_serves_the_spoils_on_the_wire_and_lists_them():
    """The audit log, the sign-in files and the GPT listing each carry a
    lone surrogate escape, NULs in a user id, an email and an IP, and a user
    id of 6,000 characters; the rest of the data is that of a clean run."""
    async with (
        running("poisoned", 1.0) as sandbox,
        running(None, 0.0) as clean,
        aiohttp.ClientSession() as http,
    ):
        state = sandbox.state
        assert ground_truth(sandbox) == ground_truth(clean)
        async with http.get(
            f"{sandbox.api_url}{AUDIT}", params={"limit": "100"}, headers=admin(sandbox)
        ) as response:
            assert response.status == 200
        bodies = [
            b"".join(poison_dumps(state.audit.record(i)) for i in state.audit.poisoned),
            b"".join(
                line
                for file_id in state.compliance.poisoned_lines
                for line in state.compliance.iter_file_lines(file_id)
            ),
            b"".join(
                poison_dumps(state.compliance.gpt(g))
                for g in state.compliance._gpts_by_id
                if g.id in state.compliance.poisoned_gpts
            ),
        ]
        for body, count in zip(bodies, (5, 5, 4), strict=True):
            assert body.count(b"\\ud800") == 1
            assert body.count(b"\\u0000") == count - 2
            assert b"0" * 5000 in body
        # What the API serves is that text: the GPT listing, say.
        workspace = state.org.workspace_id
        async with http.get(
            f"{sandbox.api_url}/v1/compliance/workspaces/{workspace}/gpts",
            params={"limit": "100"},
            headers={"Authorization": f"Bearer {sandbox.keys.compliance}"},
        ) as response:
            listing = await response.read()
        assert b"\\ud800" in listing
        assert len(orjson_free_loads(listing)["data"]) == len(state.org.gpts) + 4
        details = sandbox.describe().details
        conformance = details["conformance"]
        assert ConformanceDetails.from_details(details).faults["poisoned"] == "poisoned"
        assert conformance["poisoned_ids"] == state.poisoned_ids
        assert len(set(state.poisoned_ids.values())) == 14
        assert "poisoned_ids" not in clean.describe().details["conformance"]


def orjson_free_loads(body):
    """JSON with a lone surrogate escape, which orjson refuses."""
    import json  # noqa: PLC0415

    return json.loads(body)
