"""A connection's name, when none is given, is derived in one place:
``ConnectorSpec.default_connection``. The connector, the sync engine and
the environment's connection all ask it."""

from __future__ import annotations

import toy

from connector_core import Registry
from connector_core.connections import connection_from_environment
from connector_core.store.base import LogFilter
from connector_core.sync import sync_connection


REGISTRY = Registry.load(entry_points=False, plugins=[("toy", toy)], environ={})
SPEC = REGISTRY.spec("toy")


def test_the_default_is_the_platform_name():
    assert SPEC.default_connection == "toy"


def test_a_connector_made_without_a_name_takes_the_default():
    assert REGISTRY.create("toy", {"token": "good"}).name == SPEC.default_connection
    named = REGISTRY.create("toy", {"token": "good"}, name="acme")
    assert named.name == "acme"


async def test_a_sync_without_a_connection_stores_under_the_connectors(store):
    named = REGISTRY.create("toy", {"token": "good"}, name="acme")
    report = await sync_connection(named, store, since=toy.START, until=toy.START)
    assert report.connection == "acme"
    plain = REGISTRY.create("toy", {"token": "good", "events": 3})
    report = await sync_connection(plain, store, since=toy.START)
    assert report.connection == SPEC.default_connection
    # The same organization as acme's: what acme stored first is its.
    held = report.held_elsewhere
    assert report.held_by == ({"acme": held} if held else {})
    assert store.count_logs(LogFilter(connection=SPEC.default_connection)) == 3 - held
    assert store.count_logs(LogFilter()) == 3


def test_the_environments_connection_takes_the_default():
    spec = Registry.load(environ={"AIAUDIT_PLUGINS": "example"}).spec("example")
    environment = {"EXAMPLE_API_KEY": "exk_live_key", "EXAMPLE_CUSTOMER_ID": "C01"}
    made = connection_from_environment(spec, None, environment)
    assert made.name == spec.default_connection == "example"
    assert connection_from_environment(spec, "acme", environment).name == "acme"
