"""Write the lock: every Python package the kit installs, pinned with hashes, from pyproject.toml.

    ./kit lock                  keep every pin that still fits pyproject.toml, add what is new
    ./kit lock --upgrade        move every pin to the newest release that fits
    ./kit lock -P pandas        move one package (uv's --upgrade-package)

It writes, with uv's universal resolver (one file for every Python from 3.10 on and every
platform, markers where the versions differ):

- requirements/test.txt       the kit's dependencies, JupyterLab and the test tools (`lab` + `dev`)
- requirements/learner.txt    the kit's dependencies and JupyterLab (`lab`), at test.txt's pins
- requirements/bootstrap.txt  pip and the build backend, installed first
- environment.yml             conda's way to the same learner pins (conda cannot check hashes
                              and install the kit itself in one step, so its pins carry none)

`./kit lab`, `./kit test`, `./kit bundle` and CI install from these files with
`pip install --require-hashes`, then the kit itself with `pip install --no-deps -e .`.
tests/unit/kit/test_lock.py checks that the files agree with pyproject.toml and with each other.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "requirements"
LOWEST_PYTHON = "3.10"  # pyproject.toml's requires-python
CONDA_PYTHON = "3.11"

ENVIRONMENT_HEADER = """\
# Written by `./kit lock` from requirements/learner.txt: edit pyproject.toml, then run it again.
#
#   conda env create -f environment.yml     # or: mamba env create -f environment.yml
#   conda activate banku
#   banku stack up                          # Kafka + Redis (or: docker compose up --wait)
#   jupyter lab notebooks/
#
# The Python packages are the learner's, at the lock's versions (pip, from PyPI: conda-forge
# does not carry every one of them at the same version); the kit itself is installed editable.
# Java and Maven are here so that `banku stack up` can fetch and run Kafka; redis-server comes
# from the system (`sudo apt-get install -y redis-server`, macOS: `brew install redis`) or from
# Docker (docker-compose.yml). The test tools are not here: `./kit test` installs them.
"""


def uv(*args: str, stdin: str | None = None) -> None:
    command = [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "--universal",
               "--python-version", LOWEST_PYTHON, "--generate-hashes",
               "--custom-compile-command", "./kit lock", *args]
    subprocess.run(command, input=stdin, text=True, check=True, cwd=ROOT)


def build_requirements() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return list(pyproject["build-system"]["requires"])


def pins(text: str) -> list[str]:
    """The requirement lines of a lock ("name==version ; marker"), without hashes or comments."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        found.append(re.split(r"\s+--hash=", line, maxsplit=1)[0].strip())
    return found


def environment_yml(learner_lock: str) -> str:
    lines = [ENVIRONMENT_HEADER, "name: banku", "channels:", "  - conda-forge",
             "dependencies:", f"  - python={CONDA_PYTHON}", "  - pip",
             "  # not Python packages: what `banku stack up` runs Kafka with",
             "  - openjdk >=17", "  - maven", "  - pip:"]
    lines += [f'      - "{pin}"' for pin in pins(learner_lock)]
    lines.append("      - -e .")
    return "\n".join(lines) + "\n"


def main(args: list[str]) -> None:
    uv("pyproject.toml", "--extra", "lab", "--extra", "dev", "-o", "requirements/test.txt",
       *args)
    # The learner's pins are the tested ones: test.txt constrains them.
    uv("pyproject.toml", "--extra", "lab", "-c", "requirements/test.txt",
       "-o", "requirements/learner.txt", *args)
    uv("-", "-o", "requirements/bootstrap.txt", *args,
       stdin="\n".join(["pip", *build_requirements()]) + "\n")
    learner = (HERE / "learner.txt").read_text()
    (ROOT / "environment.yml").write_text(environment_yml(learner))
    print("Wrote requirements/test.txt, requirements/learner.txt, requirements/bootstrap.txt"
          " and environment.yml")


if __name__ == "__main__":
    main(sys.argv[1:])
