"""Whether requirements.lock was compiled from pyproject.toml as it now stands.

`make lock` compiles the lock (uv, in a throwaway venv) and then runs `stamp`, which appends the
digest of what the lock is compiled from: build-system.requires, the dependencies, the extras and
requires-python. `make` runs `check` before installing from the lock, so a dependency added to
pyproject.toml without `make lock` stops the install with that advice instead of leaving a venv
that lacks it. Plain standard library: it runs before the venv exists.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

MARK = "# pyproject.toml inputs sha256: "


def inputs_digest(pyproject: Path) -> str:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    inputs = {
        "build-system.requires": data["build-system"]["requires"],
        "requires-python": project.get("requires-python"),
        "dependencies": project.get("dependencies", []),
        "optional-dependencies": project.get("optional-dependencies", {}),
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def stamped_digest(lock: Path) -> str | None:
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(MARK):
            return line.removeprefix(MARK).strip()
    return None


def main(argv: list[str]) -> int:
    command, pyproject, lock = argv[0], Path(argv[1]), Path(argv[2])
    digest = inputs_digest(pyproject)
    if command == "stamp":
        text = "".join(line + "\n" for line in lock.read_text(encoding="utf-8").splitlines()
                       if not line.startswith(MARK))
        lock.write_text(f"{text}{MARK}{digest}\n", encoding="utf-8")
        return 0
    if command == "check":
        if not lock.exists():
            print(f"{lock} is missing: run `make lock`", file=sys.stderr)
            return 1
        if stamped_digest(lock) != digest:
            print(f"{lock} was not compiled from the dependencies now in {pyproject}: run `make lock`",
                  file=sys.stderr)
            return 1
        return 0
    print("usage: python -m devtools.lockfile stamp|check PYPROJECT LOCK", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
