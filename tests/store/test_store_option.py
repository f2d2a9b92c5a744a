"""``--store`` on the command line: never a password.

A command line is visible to every local user (``ps``, ``/proc``), so a
``--store`` value holding a password is refused, with a one-line usage
error that never repeats it and names the alternatives; the variables
(``AIAUDIT_STORE``, ``DATABASE_URL``) may still hold one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from connector_core.store import mask_url


AIAUDIT = Path(sys.executable).parent / "aiaudit"


def aiaudit(*args: str, env: dict[str, str] | None = None):
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIAUDIT_") and k != "DATABASE_URL"
    }
    environ.update(env or {})
    return subprocess.run(
        [str(AIAUDIT), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://auditor:Hunter2pw@127.0.0.1:9/db",
        "postgres://auditor:Hunter2pw@127.0.0.1:9/db?schema=x",
        "postgresql://auditor:Hunter2%40pw@127.0.0.1:9/db",
        "postgresql://auditor@127.0.0.1:9/db?password=Hunter2pw",
        "postgresql://auditor@127.0.0.1:9/db?sslmode=require&sslpassword=Hunter2pw",
        "postgresql://auditor:Hunter2pw@h1:9,h2:9/db",
        "postgresql://auditor:Hunter2pw@/db?host=/var/run/postgresql",
        "POSTGRESQL://auditor:Hunter2pw@127.0.0.1:9",
    ],
)
def test_a_password_in_store_is_refused_without_echoing_it(url):
    result = aiaudit("--store", url, "logs")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    [line] = lines
    assert "Hunter2" not in result.stderr + result.stdout
    for alternative in ("AIAUDIT_STORE", "DATABASE_URL", "PGPASSWORD", "passfile="):
        assert alternative in line
    # The URL's masked form is always safe to show, and does not leak either.
    assert "Hunter2" not in mask_url(url)


def test_a_password_in_a_variable_is_still_taken(postgres_server, postgres_schema):
    # The test server trusts local connections: any password is accepted,
    # which is enough to show the URL was used as given.
    scheme, _, rest = postgres_server.partition("://")
    user, _, host = rest.partition("@")
    with_password = f"{scheme}://{user}:Hunter2pw@{host}?schema={postgres_schema}"
    for variable in ("AIAUDIT_STORE", "DATABASE_URL"):
        result = aiaudit("connections", "list", env={variable: with_password})
        assert result.returncode == 0, result.stderr
        assert "Hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize(
    "query",
    ["", "?passfile=/nonexistent/pgpass", "?sslmode=disable"],
)
def test_a_store_url_without_a_password_is_taken(
    postgres_server, postgres_schema, query
):
    url = f"{postgres_server}{query}{'&' if query else '?'}schema={postgres_schema}"
    result = aiaudit("--store", url, "connections", "list")
    assert result.returncode == 0, result.stderr


def test_an_sqlite_store_option_is_taken(tmp_path):
    result = aiaudit("--store", f"sqlite:///{tmp_path / 'a.db'}", "connections", "list")
    assert result.returncode == 0, result.stderr


def test_reading_a_store_nothing_was_synced_into_says_so(tmp_path):
    """The reading commands open the store read-only and create nothing: a
    store that does not exist yet is a clear error (most often a mistyped
    --store), not an empty answer."""
    path = tmp_path / "never.db"
    result = aiaudit("--store", f"sqlite:///{path}", "logs")
    assert result.returncode == 1
    assert "nothing was synced there yet" in result.stderr
    assert not path.exists()


# --------------------------------------------------------------------------
# --store after the command's name
# --------------------------------------------------------------------------

STORE_COMMANDS = [
    ("connections", "add", "x", "--platform", "example", "--from-env"),
    ("connections", "list"),
    ("connections", "remove", "x"),
    ("check", "x"),
    ("sync", "x"),
    ("checkpoints", "reset", "x", "--all"),
    ("logs",),
    ("usage", "--platform", "chatgpt"),
    ("demo", "example", "--events", "20", "--days", "1"),
]


@pytest.mark.parametrize("command", STORE_COMMANDS, ids=" ".join)
def test_every_command_with_a_store_takes_store_after_its_name(tmp_path, command):
    # A store in a folder that does not exist: the error names it, so the
    # command used the URL given after its name.
    missing = tmp_path / "no-such-folder" / "a.db"
    result = aiaudit(
        *command,
        "--store",
        f"sqlite:///{missing}",
        env={"EXAMPLE_API_KEY": "exk_live_0123456789abcdef"},
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert str(missing.parent) in line
    assert not missing.parent.exists()


def test_a_store_after_the_command_wins(tmp_path):
    first, second = (f"sqlite:///{tmp_path / name}" for name in ("a.db", "b.db"))
    for url, name in ((first, "in-a"), (second, "in-b")):
        added = aiaudit(
            "connections",
            "add",
            name,
            "--platform",
            "example",
            "--secret",
            "api_key=EXAMPLE_API_KEY",
            "--store",
            url,
            env={"EXAMPLE_API_KEY": "exk_live_0123456789abcdef"},
        )
        assert added.returncode == 0, added.stderr
    listed = aiaudit("--store", first, "connections", "list", "--store", second)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("in-b  [example]")
    from_variable = aiaudit(
        "connections", "list", "--store", second, env={"AIAUDIT_STORE": first}
    )
    assert from_variable.stdout.startswith("in-b  [example]")


def test_a_password_in_store_after_the_command_is_refused():
    url = "postgresql://auditor:Hunter2pw@127.0.0.1:9/db"
    result = aiaudit("logs", "--store", url)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "Hunter2" not in result.stderr + result.stdout
    assert "AIAUDIT_STORE" in line


@pytest.mark.parametrize("command", [("logs",), ("usage", "--platform", "chatgpt")])
def test_reading_a_missing_store_creates_nothing(tmp_path, command):
    """Read-only: a mistyped store is an error, never a new empty store."""
    for path, message in (
        (tmp_path / "never.db", "nothing was synced there yet"),
        (tmp_path / "no-such-folder" / "never.db", "does not exist"),
    ):
        result = aiaudit(*command, "--store", f"sqlite:///{path}")
        assert result.returncode == 1, result.stderr
        [line] = result.stderr.strip().splitlines()
        assert message in line
        assert not path.exists()
        assert not path.parent.exists() or path.parent == tmp_path


@pytest.mark.parametrize("command", [("logs",), ("usage", "--platform", "chatgpt")])
def test_reading_a_database_without_the_schema_creates_nothing(
    postgres_server, postgres_schema, command
):
    import psycopg  # noqa: PLC0415

    url = f"{postgres_server}?schema={postgres_schema}"
    result = aiaudit(*command, "--store", url)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "holds no aiaudit schema" in line
    with psycopg.connect(postgres_server) as connection:
        found = connection.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (postgres_schema,)
        ).fetchone()
    assert found == (0,)
