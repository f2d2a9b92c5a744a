"""docs/connector-authors.md's walk runs as written: the files it tells a new
author to create, in an empty folder, make a plugin that passes the
conformance suite.

A file to write is the fenced block after ``<!-- author-file: PATH -->``; a
file to copy from the example is named by ``<!-- author-copy: PATH -->``.
The walk's ``pip install -e .`` is stood in for by a dist-info folder built
from the walk's own ``pyproject.toml`` (name, version, entry points) and the
folder on ``PYTHONPATH``, which is what an editable install amounts to and
takes no network. It comes first on the path, so it shadows the example
installed in this environment (one distribution of a name is seen, the
first).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest


ROOT = Path(__file__).parent.parent
DOC = ROOT / "docs" / "connector-authors.md"
EXAMPLE = ROOT / "examples" / "aiaudit-example"

_FILE = re.compile(
    r"<!-- author-file: (?P<path>[\w./-]+) -->\n```\w*\n(?P<body>.*?)^```$",
    re.DOTALL | re.MULTILINE,
)
_COPY = re.compile(r"<!-- author-copy: (?P<path>[\w./-]+) -->")


def _walk() -> tuple[dict[str, str], list[str]]:
    text = DOC.read_text()
    files = {m["path"]: m["body"] for m in _FILE.finditer(text)}
    return files, [m["path"] for m in _COPY.finditer(text)]


FILES, COPIES = _walk()
PYTHON = sorted(path for path in FILES if path.endswith(".py"))


def test_the_walk_writes_a_package_with_its_entry_point():
    assert "pyproject.toml" in FILES
    assert "aiaudit_example/__init__.py" in PYTHON
    assert COPIES == ["aiaudit_example/sandbox.py"]


@pytest.mark.parametrize("path", PYTHON)
def test_each_file_of_the_walk_is_the_example_s(path):
    """The walk is the example, so neither can drift from the other."""
    assert FILES[path] == (EXAMPLE / path).read_text()


def test_the_walk_passes_the_conformance_suite(tmp_path):
    project = tmp_path / "aiaudit-example"  # the author's empty folder
    for path, body in FILES.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(body)
    for path in COPIES:
        shutil.copyfile(EXAMPLE / path, project / path)
    meta = tomllib.loads(FILES["pyproject.toml"])["project"]
    module = meta["name"].replace("-", "_")
    dist = tmp_path / "site" / f"{module}-{meta['version']}.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    points = meta["entry-points"]["aiaudit"]
    (dist / "entry_points.txt").write_text(
        "[aiaudit]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project), str(dist.parent)]),
        "AIAUDIT_PLUGINS": ",".join(points),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "connector_core.testing.plugin",
            "-p",
            "no:cacheprovider",
            "--aiaudit-platform",
            "example",
            "--aiaudit-events",
            "300",
            "--aiaudit-days",
            "4",
            "-q",
            "-rs",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    where = _where_loaded(env, tmp_path)
    assert str(project) in where, where  # the walk's files ran, not the example's
    assert str(dist.parent) in where, where
    assert "skipped" not in run.stdout.splitlines()[-1], run.stdout


SHOW_WHERE = (
    "import aiaudit_example, importlib.metadata as m; "
    "print(aiaudit_example.__file__); "
    "print(m.distribution('aiaudit-example').locate_file(''))"
)


def _where_loaded(env: dict[str, str], cwd: Path) -> str:
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            SHOW_WHERE,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout
