"""The Ray executor on a 2-node cluster on loopback: the same output as the local executor; a
worker killed mid-stage changes nothing; a driver killed mid-run resumes from its finished stages."""

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml

from conftest import make_recipe, output_digest
from thresher import Recipe, run
from thresher.manifest import step_info

STEPS = [
    {"normalize": {}},
    {"language": {"keep": ["en", "fr", "de"], "min_score": 0.5}},
    {"length": {"min_words": 5}},
    {"gopher_quality": {"min_words": 10}},
    {"dedup_exact": {}},
    {"dedup_minhash": {"threshold": 0.7}},
    {"embed": {"model": "static"}},
    {"dedup_semantic": {"eps": 0.05, "k": 6}},
    {"hierarchical_kmeans": {"levels": [12, 3]}},
    {"sample_balanced": {"fraction": 0.6}},
]


def _our_processes(marker: str) -> list[int]:
    """PIDs of processes whose command line or environment names ``marker`` (our temp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in blob:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def ray_cluster():
    """A head node and a second node, 1 CPU each, with private temp and home directories."""
    tmp = tempfile.mkdtemp(prefix="thresher-ray-")
    saved = {k: os.environ.get(k) for k in ("RAY_TMPDIR", "HOME", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    os.environ.update(RAY_TMPDIR=tmp, HOME=tmp, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()
        for pid in _our_processes(tmp):  # Ray's agents ignore SIGTERM: stop what we started, by PID
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _recipe(tmp: Path, data: Path, kind: str, **executor) -> dict:
    """A recipe with its own embedding cache (sharing the built static model), so that every
    run encodes: on Ray, the workers do."""
    cache, models = tmp / "cache", Path(os.environ["THRESHER_CACHE"]) / "models"
    models.mkdir(parents=True, exist_ok=True)
    if not cache.exists():
        cache.mkdir()
        (cache / "models").symlink_to(models, target_is_directory=True)
    return make_recipe(tmp, data, STEPS, kind=kind, shard_rows=250, cache_dir=str(cache), **executor)


def _run(tmp: Path, data: Path, kind: str, **executor):
    return run(Recipe.from_dict(_recipe(tmp, data, kind, **executor), base_dir=tmp))


def _info(result, step: str) -> dict:
    return step_info(result.manifest, step)


@pytest.fixture(scope="module")
def local_reference(sample_subset, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    _run(tmp, sample_subset, "local", workers=2)
    return output_digest(tmp / "out")


def test_ray_cluster_gives_the_local_output(ray_cluster, sample_subset, local_reference, tmp_path):
    result = _run(tmp_path, sample_subset, "ray", workers=2)
    assert result.manifest["cluster"] == {"kind": "ray", "nodes": 2, "cpus": 2}
    assert output_digest(tmp_path / "out") == local_reference
    assert result.counts["removed"] > 0 and any(s["step"] == "sample_balanced" for s in result.manifest["steps"])
    assert _info(result, "dedup_minhash")["partitions"] >= 4  # the decide's heavy parts ran as tasks
    assert _info(result, "embed")["encoded"] > 500


def test_a_worker_killed_mid_stage_changes_nothing(ray_cluster, sample_subset, local_reference, tmp_path):
    killed: list[int] = []
    done = threading.Event()

    def kill_one_task_worker():
        while not done.is_set() and not killed:
            for entry in Path("/proc").iterdir():
                try:
                    title = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if title.startswith(b"ray::run_task"):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
                    break
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_one_task_worker, daemon=True)
    watcher.start()
    try:
        _run(tmp_path, sample_subset, "ray", workers=2)
    finally:
        done.set()
        watcher.join()
    assert killed, "no Ray task was running to kill"
    assert output_digest(tmp_path / "out") == local_reference


def test_a_killed_driver_resumes_from_the_finished_stages(ray_cluster, sample_subset, local_reference, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(_recipe(tmp_path, sample_subset, "ray", workers=2,
                                             address=ray_cluster.address)))
    driver = subprocess.Popen([sys.executable, "-c", "import sys; from thresher.cli import main; "
                               "sys.exit(main(['run', sys.argv[1]]))", str(recipe)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "out").rglob("_SUCCESS.json"))) < 3 and driver.poll() is None:
            assert time.monotonic() < deadline, "the driver finished no stage in 2 minutes"
            time.sleep(0.05)
        driver.kill()  # SIGKILL: no cleanup, as when a node dies
    finally:
        driver.wait()
    assert driver.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    finished = len(list((tmp_path / "out").rglob("_SUCCESS.json")))
    result = run(Recipe.from_yaml(recipe))
    statuses = [s["status"] for s in result.manifest["stages"]]
    assert statuses[:3] == ["reused"] * 3 and statuses.count("reused") == finished < len(statuses)
    assert output_digest(tmp_path / "out") == local_reference


IMAGE_STEPS = [
    {"dedup_exact": {"compare": "image_pixels"}},
    {"image_quality": {"focus_z": 4}},
]


def _image_run(tmp: Path, kind: str):
    from conftest import ROOT

    spec = {"input": {"path": str(ROOT / "examples" / "data" / "images"), "format": "images",
                      "label_from": "folder"},
            "output": {"path": str(tmp / "out")}, "executor": {"kind": kind, "workers": 2, "shard_rows": 60},
            "steps": IMAGE_STEPS}
    return run(Recipe.from_dict(spec, base_dir=tmp))


def test_the_image_pipeline_on_ray_gives_the_local_output(ray_cluster, tmp_path):
    local = _image_run(tmp_path / "local", "local")
    on_ray = _image_run(tmp_path / "ray", "ray")
    assert on_ray.manifest["cluster"]["kind"] == "ray"
    assert output_digest(tmp_path / "ray" / "out") == output_digest(tmp_path / "local" / "out")
    assert local.counts["removed"] > 0 and {s["step"] for s in local.manifest["steps"]} >= {"image_quality"}
