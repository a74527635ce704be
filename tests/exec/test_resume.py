"""A run killed with SIGKILL at any point, then started again, gives the uninterrupted output."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import PIPELINE, make_recipe, output_digest


def _recipe(tmp_path: Path, sample: Path, name: str) -> Path:
    data = make_recipe(tmp_path / name, sample, PIPELINE, workers=2, shard_rows=60)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cli(recipe: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "thresher.cli", "run", str(recipe), "--no-progress", *args]
    log = open(recipe.with_suffix(".log"), "ab")  # noqa: SIM115 (closed by _wait)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    proc.log = log
    return proc


def _wait(proc: subprocess.Popen) -> int:
    code = proc.wait(timeout=300)
    proc.log.close()
    return code


def _markers(work: Path) -> int:
    return sum(1 for _ in work.rglob("*.json")) if work.exists() else 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, sample_subset):
    tmp = tmp_path_factory.mktemp("full")
    recipe = _recipe(tmp, sample_subset, "full")
    assert _wait(_cli(recipe)) == 0, recipe.with_suffix(".log").read_text()
    return output_digest(tmp / "full" / "out")


@pytest.mark.parametrize("kill_after", [3, 40, 90, 140])
def test_sigkill_then_rerun_gives_identical_output(tmp_path, sample_subset, uninterrupted, kill_after):
    recipe = _recipe(tmp_path, sample_subset, "run")
    work = tmp_path / "run" / "out" / "_work"
    proc = _cli(recipe)
    deadline = time.time() + 120
    while proc.poll() is None and _markers(work) < kill_after and time.time() < deadline:
        time.sleep(0.01)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the executor and its workers, like `kill -9`
    _wait(proc)
    assert _wait(_cli(recipe)) == 0, recipe.with_suffix(".log").read_text()
    assert output_digest(tmp_path / "run" / "out") == uninterrupted
