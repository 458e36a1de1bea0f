"""`pip install .` (not editable) gives a working kit: the sample log travels as package data,
so `banku load` works from the installed copy, far from the repository's data/ folder."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from tests.helpers import end_offsets, env_for


def test_a_regular_install_loads_the_sample_log(settings, tmp_path):
    wheels = tmp_path / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheels), "."], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("banku-*.whl")
    assert "banku/data/sample-events.jsonl" in zipfile.ZipFile(wheel).namelist()
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                                "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    env = env_for(settings)
    env["PYTHONPATH"] = str(target)  # the installed copy comes first on the path
    where = subprocess.run([sys.executable, "-c", "import banku; print(banku.__file__)"],
                           env=env, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert where.stdout.startswith(str(target)), where.stdout + where.stderr
    loaded = subprocess.run([sys.executable, "-m", "banku", "load"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert loaded.returncode == 0, loaded.stderr
    assert "Loaded 30000 events" in loaded.stdout
    assert sum(end_offsets(settings).values()) == 30000
