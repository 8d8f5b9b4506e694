"""Print pip constraints that pin every declared lower bound (``name>=X`` becomes ``name==X``).

.ci/run installs the project with them on the oldest supported Python, so the lower bounds in
pyproject.toml are tested, not guessed. Usage: ``python ci/lowest_constraints.py [EXTRA ...]``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

_BOUND = re.compile(r"^\s*([A-Za-z0-9_.\[\],-]+?)\s*>=\s*([^,;\s]+)")


def main(extras: list[str]) -> int:
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    for requirement in requirements:
        match = _BOUND.match(requirement)
        if match:
            name = re.sub(r"\[.*\]", "", match.group(1))
            print(f"{name}=={match.group(2)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
