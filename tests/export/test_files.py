"""Files the exports write: owner-only, never through a planted link."""

from __future__ import annotations

import os
import stat

import pytest

from connector_core.export.files import private_file, write_private_text


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_file_is_owner_only_under_a_permissive_umask(tmp_path, umask_022):
    target = tmp_path / "report.html"
    write_private_text(target, "<html>alice@example.com 203.0.113.9</html>")
    assert target.read_text() == "<html>alice@example.com 203.0.113.9</html>"
    assert mode(target) == 0o600


def test_an_existing_readable_file_becomes_owner_only(tmp_path, umask_022):
    target = tmp_path / "report.csv"
    target.write_text("old")
    target.chmod(0o644)
    write_private_text(target, "new")
    assert target.read_text() == "new"
    assert mode(target) == 0o600


def test_a_planted_link_is_replaced_not_followed(tmp_path, umask_022):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    victim.chmod(0o644)
    target = tmp_path / "report.html"
    target.symlink_to(victim)
    dangling = tmp_path / "dangling.html"
    dangling.symlink_to(tmp_path / "created-through-the-link")

    write_private_text(target, "report")
    write_private_text(dangling, "report")

    assert victim.read_text() == "keep me"
    assert not (tmp_path / "created-through-the-link").exists()
    for path in (target, dangling):
        assert not path.is_symlink()
        assert path.read_text() == "report"
        assert mode(path) == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("previous")

    def export() -> None:
        with private_file(target) as out:
            out.write("half")
            raise RuntimeError("the export failed")

    with pytest.raises(RuntimeError):
        export()
    assert target.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_errors_name_the_path_given(tmp_path):
    missing = tmp_path / "no" / "such" / "report.html"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        write_private_text(missing, "x")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=str(folder)):
        write_private_text(folder, "x")
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder"]
