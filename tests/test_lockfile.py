"""requirements.lock against pyproject.toml (devtools/lockfile.py): make refuses to install from a
lock that was not compiled from the dependencies pyproject.toml now declares."""

from __future__ import annotations

import shutil

from casework.platform.config import PROJECT_ROOT
from devtools import lockfile


def test_the_committed_locks_were_compiled_from_pyproject_as_it_stands():
    for lock in ("requirements.lock", "requirements-runtime.lock"):
        assert lockfile.main(["check", str(PROJECT_ROOT / "pyproject.toml"), str(PROJECT_ROOT / lock)]) == 0, lock


def test_a_dependency_added_without_make_lock_is_caught_and_tool_settings_are_not(tmp_path, capsys):
    pyproject, lock = tmp_path / "pyproject.toml", tmp_path / "requirements.lock"
    shutil.copy(PROJECT_ROOT / "pyproject.toml", pyproject)
    lock.write_text("# compiled\nsix==1.17.0\n")
    lockfile.main(["stamp", str(pyproject), str(lock)])
    lockfile.main(["stamp", str(pyproject), str(lock)])  # stamping again replaces the line
    assert lock.read_text().count(lockfile.MARK) == 1
    assert lockfile.main(["check", str(pyproject), str(lock)]) == 0

    pyproject.write_text(pyproject.read_text() + "\n[tool.example]\nsetting = 1\n")
    assert lockfile.main(["check", str(pyproject), str(lock)]) == 0

    pyproject.write_text(pyproject.read_text().replace('"trustme>=1.1",', '"trustme>=1.1",\n    "six",'))
    assert lockfile.main(["check", str(pyproject), str(lock)]) == 1
    assert "run `make lock`" in capsys.readouterr().err
