"""The output directory: thresher writes only where it may, deletes only what it wrote, and
one run at a time holds it; what the machine refuses (disk full, read-only) is a clear error."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

import thresher
from conftest import write_jsonl
from thresher.cli import main
from thresher.exec.outdir import MARKER, OutputLock


def _recipe(tmp_path: Path, rows: list[dict], out: Path, name: str = "recipe.yaml", **executor) -> Path:
    data = tmp_path / "data" / "in.jsonl"
    if not data.exists():
        write_jsonl(data, rows)
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"input": {"path": str(data.parent)}, "output": {"path": str(out)},
                                    "executor": {"workers": 1, **executor},
                                    "steps": [{"length": {"min_words": 3}}, {"dedup_exact": {}}]}))
    return path


def test_a_non_empty_directory_that_thresher_did_not_write_is_refused(tmp_path, prose_rows, capsys):
    out = tmp_path / "userdir"
    (out / "kept").mkdir(parents=True)
    mine = {out / "kept" / "my_notes.txt": "notes", out / "kept" / "part-99999.parquet": "not parquet",
            out / "manifest.json": '{"mine": true}'}
    for path, text in mine.items():
        path.write_text(text)
    assert main(["run", str(_recipe(tmp_path, prose_rows, out))]) == 2
    err = capsys.readouterr().err
    assert "not a thresher output" in err and "Traceback" not in err
    assert {p: p.read_text() for p in mine} == mine
    assert not (out / MARKER).exists()


def test_fresh_deletes_only_what_thresher_wrote(tmp_path, prose_rows, capsys):
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, prose_rows, out)
    assert main(["run", str(recipe)]) == 0
    stages = sorted(p.name for p in (out / "_work").iterdir() if p.is_dir())
    mine = out / "_work" / "mine.txt"
    mine.write_text("keep me")
    (out / "_work" / "my-dir").mkdir()
    (out / "_work" / "my-dir" / "notes.txt").write_text("mine")
    notes = out / "notes.txt"
    notes.write_text("mine too")
    assert main(["run", str(recipe), "--fresh"]) == 0
    assert mine.read_text() == "keep me" and notes.read_text() == "mine too"
    assert (out / "_work" / "my-dir" / "notes.txt").read_text() == "mine"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {s["status"] for s in manifest["stages"]} == {"computed"}  # --fresh recomputed every stage
    assert sorted(p.name for p in (out / "_work").iterdir() if p.is_dir()) == sorted(stages + ["my-dir"])


def test_a_foreign_file_in_kept_is_refused_and_left_alone(tmp_path, prose_rows, capsys):
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, prose_rows, out)
    assert main(["run", str(recipe)]) == 0
    foreign = out / "kept" / "my_notes.txt"
    foreign.write_text("notes")
    for args in (["run", str(recipe)], ["run", str(recipe), "--fresh"]):
        assert main(args) == 2
        assert "kept/my_notes.txt" in capsys.readouterr().err
        assert foreign.read_text() == "notes"


def test_the_output_path_is_a_file(tmp_path, prose_rows, capsys):
    out = tmp_path / "out"
    out.write_text("a file")
    assert main(["run", str(_recipe(tmp_path, prose_rows, out))]) == 2
    err = capsys.readouterr().err
    assert "is an existing file" in err and "Traceback" not in err
    assert out.read_text() == "a file"


def test_a_second_run_on_the_same_output_waits_for_no_one(tmp_path, prose_rows, capsys):
    out = tmp_path / "out"
    recipe = _recipe(tmp_path, prose_rows, out)
    assert main(["run", str(recipe)]) == 0
    with OutputLock(out):
        assert main(["run", str(recipe)]) == 8
        err = capsys.readouterr().err
        assert f"in use by another thresher run (pid {os.getpid()}" in err
        assert main(["report", str(out)]) == 8
    assert main(["run", str(recipe)]) == 0  # released


def test_an_output_inside_the_input_directory_is_not_read_as_input(tmp_path, prose_rows, capsys):
    out = tmp_path / "data" / "out"
    recipe = _recipe(tmp_path, prose_rows, out)
    for args in (["run", str(recipe)], ["run", str(recipe)], ["run", str(recipe), "--fresh"]):
        assert main(args) == 0, capsys.readouterr().err
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["counts"]["input"] == len(prose_rows)
        assert [i["path"] for i in manifest["inputs"]] == ["in.jsonl"]


@pytest.mark.parametrize("exc, code, words", [
    (OSError(errno.ENOSPC, "No space left on device", "out/kept/part-0.parquet"), 4, "disk is full"),
    (OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"), 4, "disk is full"),
    (OSError(errno.EROFS, "Read-only file system", "out/manifest.json"), 2, "read-only"),
    (PermissionError(errno.EACCES, "Permission denied", "out/_work"), 2, "permission denied"),
])
def test_what_the_machine_refuses_is_a_clear_error(monkeypatch, tmp_path, capsys, exc, code, words):
    import thresher.runner

    def refuse(*args, **kwargs):
        raise exc

    monkeypatch.setattr(thresher.runner, "run", refuse)
    assert main(["run", str(tmp_path / "recipe.yaml")]) == code
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def _slow_recipe(tmp_path: Path) -> Path:
    """A recipe that keeps 2 workers busy for several seconds."""
    rows = [{"id": f"r{i}", "text": f"record number {i} " + "word " * (i % 50)} for i in range(20_000)]
    for k in range(4):
        write_jsonl(tmp_path / "data" / f"part{k}.jsonl", rows[k::4])
    steps = [{"normalize": {}}, {"length": {"min_words": 2}}, {"gopher_repetition": {}}, {"gopher_quality": {}},
             {"fineweb_quality": {}}, {"c4_quality": {}}, {"dedup_minhash": {}}]
    path = tmp_path / "slow.yaml"
    recipe = {"input": {"path": str(tmp_path / "data")}, "output": {"path": str(tmp_path / "out")},
              "executor": {"workers": 2, "shard_rows": 1000}, "steps": steps}
    path.write_text(yaml.safe_dump(recipe))
    return path


def _start(recipe: Path, tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(Path(thresher.__file__).parents[1])}  # the code under test
    return subprocess.Popen([sys.executable, "-m", "thresher.cli", "run", str(recipe), "--no-progress"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def _wait_for_workers(proc: subprocess.Popen, n: int, timeout: float = 60) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        if len(kids) >= n + 2:  # the fork server, the resource tracker, the workers
            return kids
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the workers never started")


def test_killing_the_run_leaves_no_process_behind(tmp_path):
    proc = _start(_slow_recipe(tmp_path), tmp_path)
    kids = _wait_for_workers(proc, 2)
    proc.kill()
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    gone, alive = psutil.wait_procs(kids, timeout=10)
    assert not alive, [(p.pid, p.cmdline()) for p in alive]


def test_ctrl_c_stops_the_run_with_a_message_and_no_traceback(tmp_path):
    recipe = _slow_recipe(tmp_path)
    proc = _start(recipe, tmp_path)
    kids = _wait_for_workers(proc, 2)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    gone, alive = psutil.wait_procs(kids, timeout=10)
    assert not alive


@pytest.mark.parametrize("delay", [0.2, 0.6])
def test_ctrl_c_in_the_first_second(tmp_path, delay):
    proc = _start(_slow_recipe(tmp_path), tmp_path)
    time.sleep(delay)  # imports, planning, the fork server's own imports
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    # 130, or killed by the SIGINT itself when it lands during interpreter shutdown: a shell sees 130 either way
    assert proc.returncode in (130, -signal.SIGINT) and "Traceback" not in err.decode(), err.decode()


def test_a_ctrl_c_that_python_drops_is_still_acted_on(capsys):
    """Python drops an exception raised in a weakref callback ("Exception ignored in ..."): a
    Ctrl-C landing there must still stop the run at the executor's next check, silently."""
    import weakref

    from thresher.exec.lifeline import interrupts_remembered, raise_if_interrupted

    class Thing:
        pass

    with interrupts_remembered():
        thing = Thing()
        ref = weakref.ref(thing, lambda _: signal.raise_signal(signal.SIGINT))
        try:
            del thing  # the callback runs, the handler's KeyboardInterrupt is dropped in it
        except KeyboardInterrupt:
            pass
        assert ref() is None
        with pytest.raises(KeyboardInterrupt):
            raise_if_interrupted()
    assert "Exception ignored" not in capsys.readouterr().err
    raise_if_interrupted.__globals__["_interrupted"].clear()
