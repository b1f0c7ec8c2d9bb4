"""Executors end to end: `--parallel 2` runs two sandboxed trainings at once on this machine, each on its own CPUs;
`--executor ray` runs a 1 x 3 cart-pole evolve on a real two-node local Ray cluster (a head and one more node, 1
CPU each, own temp dirs; the driver's run directory mounted read-only for both nodes), gets artifacts equal to the
local run's, keeps the nodes' secrets out of the sandboxed children, and retries the candidate whose worker process
the test kills."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from builders import without_noise

from rewardsmith.execute.cpus import GpuSlots, available_cpus, claimed, pinned, share, visible_gpus
from rewardsmith.execute.ray_cluster import sandbox_workers_under
from rewardsmith.jobs import run_job
from rewardsmith.jobs.messages import SelftestJob
from rewardsmith.sandbox.protocol import JobStatus
from rewardsmith.sandbox.runner import Limits

ARGS = ["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--iterations", "1", "--samples", "3",
        "--train-steps", "2048", "--seed", "1", "--no-video", "--no-halving"]


def evolve(out: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
    return subprocess.Popen([sys.executable, "-m", "rewardsmith.cli", *ARGS, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**clean, **(env or {})})


def finish(proc: subprocess.Popen[str]) -> str:
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stdout + stderr
    return stdout


def cand_dirs(out: Path) -> list[Path]:
    (run,) = out.iterdir()
    return sorted(run.glob("gen_00/cand_*"))


def arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("local")
    # two GPU ids to hand out: the native trainer never touches a GPU, so ids this machine lacks are harmless, and
    # each slot's child must still be given its own
    return out, finish(evolve(out, "--parallel", "2", env={"CUDA_VISIBLE_DEVICES": "0,1"}))


def test_parallel_two_trains_two_candidates_at_once(local_run):
    out, stdout = local_run
    dirs = cand_dirs(out)
    assert [json.loads((d / "candidate.json").read_text())["status"] for d in dirs] == ["evaluated"] * 3
    # each sandboxed training writes its job file when it starts and its result when it ends
    spans = [((d / "work" / "job.json").stat().st_mtime, (d / "work" / "result.json").stat().st_mtime) for d in dirs]
    overlapping = [(a, b) for a in range(3) for b in range(a + 1, 3)
                   if spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]
    assert overlapping, f"no two trainings ran at once: {spans}"
    placed = [json.loads((d / "work" / "placement.json").read_text())["attempts"] for d in dirs]
    assert all(len(p) == 1 and p[0]["outcome"] == "ok" for p in placed), placed
    for a, b in overlapping:  # trainings that ran at once had a GPU and CPUs each of their own
        assert placed[a][0]["gpu"] != placed[b][0]["gpu"], placed
        assert not set(placed[a][0]["cpus"]) & set(placed[b][0]["cpus"]), placed
    assert {p[0]["gpu"] for p in placed} == {"0", "1"}
    assert stdout.count(", GPU ") == 3


def test_a_rewards_seeds_train_side_by_side_through_the_executor(tmp_path):
    """The confirmation from scratch trains a reward's seeds through the run's executor (train_seeds): under
    --parallel 2 both seeds at once, each on its own CPUs, and the summary still lists them in seed order."""
    from rewardsmith.config import train_config_for
    from rewardsmith.env.registry import get_env
    from rewardsmith.execute.executors import LocalExecutor
    from rewardsmith.execute.seeds import train_seeds

    env = get_env("cartpole")
    source = env.reference_reward_path("balance").read_text()
    cfg = train_config_for(env.ppo, steps=2048)
    summary = train_seeds(env, "balance", source, cfg, [2, 1], tmp_path, lambda event: None, "native",
                          LocalExecutor(2))
    assert [s.seed for s in summary.seeds] == [2, 1] and all(s.ok for s in summary.seeds), summary
    placed = [json.loads((tmp_path / f"seed_{seed}" / "placement.json").read_text())["attempts"][0]
              for seed in (2, 1)]
    assert all(p["outcome"] == "ok" for p in placed), placed
    if len(available_cpus()) >= 2:  # two CPUs to share out: one each
        assert not set(placed[0]["cpus"]) & set(placed[1]["cpus"]), placed


def test_a_racing_seed_counts_its_own_time_and_a_rung_adds_to_its_seeds():
    """trained() sums the time of a continued halving rung onto its seed's, and a racing seed (another seed) keeps
    its own: a kneel run's racing seeds had recorded 216 s for trainings of 107 s (their first seed's time added)."""
    from builders import evaluated

    from rewardsmith.execute.sandboxed import TrainReport
    from rewardsmith.execute.train_stage import trained
    from rewardsmith.sandbox.protocol import JobStatus

    first = evaluated(0, 0, 0.5)
    first = first.replace(train=dataclasses.replace(first.train, seed=0, wall_s=100.0, cpu_s=90.0))

    def report(seed: int) -> TrainReport:
        return TrainReport(f"g0c00#{seed}", JobStatus.OK, None,
                           dataclasses.replace(first.train, seed=seed, wall_s=50.0, cpu_s=45.0), first.evaluation)

    raced = trained(first, [report(1000)], [1000])
    assert (raced.train.wall_s, raced.train.cpu_s) == (50.0, 45.0)
    continued = trained(first, [report(0)], [0])
    assert (continued.train.wall_s, continued.train.cpu_s) == (150.0, 135.0)


def test_a_lone_training_under_parallel_two_gets_every_cpu(monkeypatch, tmp_path):
    """--parallel 2 pins each training to half the CPUs; a call with one training (halving's last rung, a racing
    seed) has no sibling to share with, so it runs unpinned, as --parallel 1 would."""
    from rewardsmith.execute import executors

    seen: list[set[int]] = []
    def fake_training(request, emit, env=None):  # where the sandboxed child would start: this thread's CPUs
        seen.append(os.sched_getaffinity(0))
        return SimpleNamespace(key=request.key, status=SimpleNamespace(value="ok"))

    monkeypatch.setattr(executors, "train_in_sandbox", fake_training)
    monkeypatch.setattr(executors, "claimed", lambda count: claimed(count, lock_dir=tmp_path))
    request = _request(tmp_path, "one")
    assert [r.key for r in executors.LocalExecutor(2).run([request], lambda *a: None)] == ["one"]
    assert seen == [os.sched_getaffinity(0)]
    if len(available_cpus()) >= 2:  # two trainings: each on its own half
        seen.clear()
        two = [_request(tmp_path, "a"), _request(tmp_path, "b")]
        assert sorted(r.key for r in executors.LocalExecutor(2).run(two, lambda *a: None)) == ["a", "b"]
        assert all(len(cpus) == share(2) for cpus in seen) and len(seen) == 2


def _request(tmp_path: Path, key: str):
    from rewardsmith.config import TrainConfig
    from rewardsmith.execute.sandboxed import TrainRequest

    return TrainRequest(key=key, env="cartpole", task="balance", source="", cfg=TrainConfig(),
                        workdir=tmp_path / key, trainer="native", checkpoint=False)


def test_gpu_slots_give_each_training_its_own_gpu_then_share_round_robin(tmp_path):
    slots = GpuSlots(["GPU-aa/1", "3"], {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}, lock_dir=tmp_path)
    with slots.one() as (first, env1), slots.one() as (second, env2), slots.one() as (third, _), \
            slots.one() as (fourth, _):
        assert {first, second} == {"GPU-aa/1", "3"}
        assert env1 == {"CUDA_VISIBLE_DEVICES": first, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"} and env2["CUDA_VISIBLE_DEVICES"] == second
        assert [third, fourth] == ["GPU-aa/1", "3"]  # none free: shared in turn
    with GpuSlots([], lock_dir=tmp_path).one() as nothing:
        assert nothing == (None, {})


@pytest.mark.parametrize("given, ids", [("3,7", ["3", "7"]), ("-1", []), ("", []), ("0,-1,2", ["0"]),
                                        ("GPU-5f3a, 1", ["GPU-5f3a", "1"])])
def test_visible_gpus_follow_cuda_visible_devices(monkeypatch, given, ids):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", given)
    assert visible_gpus() == (ids, {})


def test_a_slots_gpu_reaches_the_sandboxed_child_and_secrets_do_not(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret-77aa")
    res = run_job(SelftestJob("environ"), tmp_path / "w", Limits(wall_s=30),
                  env={"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert res.status == "ok", res.reason
    environ = res.result["environ"]
    assert environ["CUDA_VISIBLE_DEVICES"] == "1" and environ["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert "OPENAI_API_KEY" not in environ and "sk-parent-secret-77aa" not in json.dumps(environ)


def test_cpu_claims_divide_the_cpus_and_a_pinned_thread_pins_its_children(tmp_path):
    assert share(2, cpus=2) == 1 and share(2, cpus=16) == 8 and share(4, cpus=2) == 1
    cpus = available_cpus()
    if len(cpus) < 2:
        pytest.skip("one CPU: nothing to divide")
    with claimed(1, tmp_path) as first, claimed(1, tmp_path) as second:
        assert len(first) == len(second) == 1 and first != second
    with claimed(1, tmp_path) as again:
        assert again == first  # released when its holder let go
    with claimed(len(cpus), tmp_path) as whole:
        assert whole == cpus
    with pinned([cpus[-1]]):
        child = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                               capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str([cpus[-1]])
    assert available_cpus() == cpus  # the thread is unpinned afterwards


def test_ray_cluster_run_equals_the_local_run_and_retries_a_killed_worker(local_run, tmp_path):
    from rewardsmith.execute.ray_cluster import RAY_ENV, LocalCluster

    local_out, _ = local_run
    out = tmp_path / "runs"
    out.mkdir()
    killed = None
    secret = "sk-node-secret-4f1e2d"  # in the nodes' environment, so in their Ray workers'
    with LocalCluster(nodes=2, cpus=1, read_only=(out,), env={"OPENAI_API_KEY": secret}) as cluster:
        proc = evolve(out, "--executor", "ray", "--ray-address", cluster.address, env=RAY_ENV)
        deadline = time.monotonic() + 600
        while killed is None and proc.poll() is None and time.monotonic() < deadline:
            workers = sandbox_workers_under({p.pid for p in cluster.procs})
            if workers:
                time.sleep(1)  # well into its training
                child, killed = workers[0]
                # the sandbox's scrubbed environment applies on the node too
                assert secret.encode() in Path(f"/proc/{killed}/environ").read_bytes()
                assert secret.encode() not in Path(f"/proc/{child}/environ").read_bytes()
                os.kill(killed, signal.SIGKILL)  # the Ray worker process running that candidate's task
            time.sleep(0.2)
        stdout = finish(proc)
        print(stdout)
    assert killed is not None, "no training was seen running on the cluster"

    placements = {}
    for ray_dir, local_dir in zip(cand_dirs(out), cand_dirs(local_out), strict=True):
        ray_cand = json.loads((ray_dir / "candidate.json").read_text())
        local_cand = json.loads((local_dir / "candidate.json").read_text())
        assert ray_cand["status"] == "evaluated", ray_cand.get("reason")
        assert without_noise(ray_cand) == without_noise(local_cand)
        for name in ("policy.npz", "trace.npz"):
            ray_arrays, local_arrays = arrays(ray_dir / "work" / name), arrays(local_dir / "work" / name)
            assert ray_arrays.keys() == local_arrays.keys()
            for key, value in ray_arrays.items():
                np.testing.assert_array_equal(value, local_arrays[key], err_msg=f"{ray_dir.name}/{name}:{key}")
        # no sandbox ran in the driver's run directory: only what came back through Ray is there
        assert not (ray_dir / "work" / "job.json").exists() and not (ray_dir / "work" / "stdout.txt").exists()
        placements[ray_dir.name] = json.loads((ray_dir / "work" / "placement.json").read_text())["attempts"]
    print(json.dumps(placements, indent=1))
    retried = [a for a in placements.values() if len(a) == 2]
    assert len(retried) == 1 and all(len(a) == 1 for a in placements.values() if a not in retried)
    first, second = retried[0]
    assert first["pid"] == killed and first["outcome"].startswith("worker lost")
    assert second["outcome"] == "ok" and second["pid"] != killed
    assert len({a["node"] for attempts in placements.values() for a in attempts}) == 2  # both nodes trained
    assert "trying again (attempt 2)" in stdout and stdout.count(" on node ") == 4


@pytest.mark.parametrize("settings, message", [
    ({"parallel": 0}, "--parallel must be a positive integer, got 0"),
    ({"executor": "ray", "parallel": 2}, "--parallel is for --executor local"),
    ({"executor": "ray", "ray_address": "nope"}, "--ray-address 'nope' is not a Ray address"),
    ({"executor": "nope"}, "unknown --executor 'nope'; valid: local, ray"),
])
def test_executor_settings_are_refused_in_one_line(settings, message):
    from rewardsmith.config import RunConfig
    from rewardsmith.execute.executors import check_executor

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        check_executor(RunConfig(env="cartpole", task="balance", **settings))


@pytest.mark.parametrize("settings, cpus, gpus, expected", [
    ({}, 2, [], 2),  # a CPU trainer on two cores: two trainings at once, one core each
    ({}, 16, [], 2),  # more cores: still two (only 2 cores were measured), each on half of them
    ({}, 1, [], 1),  # one core: nothing to share out
    ({}, 8, ["0"], 1),  # a GPU: two XLA processes would preallocate on one device
    ({"parallel": 3}, 2, ["0"], 3),  # as asked, whatever the machine
    ({"trainer": "population"}, 8, [], 1),  # the generation is one job already
    ({"trainer": "mjx"}, 8, [], 1),  # a GPU trainer
    ({"executor": "ray"}, 8, [], 1),  # the cluster decides
])
def test_the_default_parallel_follows_the_trainer_and_the_machine(monkeypatch, settings, cpus, gpus, expected):
    from rewardsmith.config import RunConfig
    from rewardsmith.execute import executors

    monkeypatch.setattr(executors, "available_cpus", lambda: list(range(cpus)))
    monkeypatch.setattr(executors, "visible_gpus", lambda: (gpus, {}))
    assert executors.parallel_of(RunConfig(env="cartpole", task="balance", **settings)) == expected


def test_without_ray_the_ray_executor_names_the_extra_to_install(monkeypatch):
    import importlib.util

    from rewardsmith.config import RunConfig
    from rewardsmith.execute.executors import check_executor

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ValueError) as err:
        check_executor(RunConfig(env="cartpole", task="balance", executor="ray"))
    assert str(err.value) == ("--executor ray needs Ray, which is not installed: pip install 'rewardsmith[ray]' "
                              "(or scripts/setup.sh test ray)")


def test_an_unreachable_cluster_stops_the_run_in_one_line_and_resume_is_offered(tmp_path):
    from rewardsmith.execute.ray_cluster import free_port

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", *ARGS[:ARGS.index("--samples") + 1], "1",
                           "--train-steps", "2048", "--no-video", "--out", str(tmp_path), "--executor", "ray",
                           "--ray-address", address], capture_output=True, text=True, timeout=600)
    (run,) = tmp_path.iterdir()
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr.strip() == (f"stopped: cannot reach the Ray cluster at {address}: [Errno 111] Connection "
                                   f"refused. Continue with: rewardsmith evolve --resume {run}")
    assert json.loads((run / "gen_00" / "cand_00" / "candidate.json").read_text())["status"] == "checked"


def test_fan_in_runs_jobs_together_and_hands_everything_to_the_callers_thread(tmp_path):
    import threading

    from rewardsmith.config import TrainConfig
    from rewardsmith.events import TrainProgress
    from rewardsmith.execute.fanin import fan_in
    from rewardsmith.execute.sandboxed import TrainReport, TrainRequest
    from rewardsmith.records import CurvePoint

    requests = [TrainRequest(f"g0c0{i}#0", "cartpole", "balance", "", TrainConfig(), tmp_path) for i in range(2)]
    together = threading.Barrier(2)
    seen = []

    def job(request, emit):
        together.wait(timeout=60)  # both jobs are running at once, or this breaks
        emit(TrainProgress(request.key, request.cfg.steps, CurvePoint.from_dict({"step": 1})))
        return TrainReport(request.key, JobStatus.OK, None, None, None)

    def on_progress(event):
        seen.append((event.id, threading.get_ident()))

    reports = list(fan_in(requests, job, 2, on_progress))
    assert sorted(r.key for r in reports) == ["g0c00#0", "g0c01#0"]
    assert sorted(seen) == [("g0c00#0", threading.get_ident()), ("g0c01#0", threading.get_ident())]

    def failing(request, emit):
        raise RuntimeError(f"{request.key} broke")

    with pytest.raises(RuntimeError, match="broke"):
        list(fan_in(requests, failing, 2, on_progress))


def test_a_training_whose_worker_dies_twice_fails_with_the_reason_and_both_attempts_recorded(tmp_path):
    from ray import exceptions as rx

    from rewardsmith.config import TrainConfig
    from rewardsmith.events import Retry
    from rewardsmith.execute.ray_executor import train_with_retry
    from rewardsmith.execute.sandboxed import TrainRequest

    deaths = iter([rx.WorkerCrashedError(), rx.NodeDiedError("node 3a5e8214284b died")])

    class Dying:  # a task whose worker dies before it yields anything, twice
        def remote(self, request, checkpoint, cpus):
            assert request.workdir == Path("work") and checkpoint is None  # no path of the driver's goes out
            raise next(deaths)
            yield

    emitted = []
    request = TrainRequest("g0c01#0", "cartpole", "balance", "", TrainConfig(), tmp_path / "work")
    checks = []
    report = train_with_retry(Dying(), request, emitted.append, 1, items=iter,
                              cluster_check=lambda: checks.append("head answered"))
    assert checks == ["head answered"] * 2  # a node death first asks whether the whole cluster went
    assert not report.ok and report.reason == ("its Ray worker died 2 times (last: NodeDiedError: node 3a5e8214284b "
                                               "died)")
    assert [type(e) for e in emitted] == [Retry] and emitted[0].attempt == 2 and emitted[0].id == "g0c01#0"
    attempts = json.loads((tmp_path / "work" / "placement.json").read_text())["attempts"]
    assert [a["outcome"].split(":")[0] for a in attempts] == ["worker lost", "worker lost"]


def test_a_tasks_stream_reaches_the_driver_as_events_and_its_placement_is_recorded(tmp_path):
    from rewardsmith.config import TrainConfig
    from rewardsmith.events import Placed, TrainProgress
    from rewardsmith.execute.ray_executor import TaskDone, TaskPlaced, train_with_retry
    from rewardsmith.execute.sandboxed import TrainReport, TrainRequest
    from rewardsmith.records import CurvePoint

    request = TrainRequest("g0c01#0", "cartpole", "balance", "", TrainConfig(steps=2048), tmp_path / "work")
    progress = TrainProgress("g0c01#0", 2048, CurvePoint.from_dict({"step": 1024, "episode_return": 3.0}))
    done = TaskDone(TrainReport("g0c01#0", JobStatus.OK, None, None, None), {"policy.npz": b"p"})

    class Streaming:  # what a task yields, in order (each item crosses Ray pickled)
        def remote(self, request, checkpoint, cpus):
            return [TaskPlaced("3a5e8214284b", "node-1", "10.0.0.7", 4242), progress, done]

    emitted = []
    report = train_with_retry(Streaming(), request, emitted.append, 1, items=iter, cluster_check=lambda: None)
    assert report is done.report
    assert emitted == [Placed("g0c01#0", 1, "node-1", node="3a5e8214284b", ip="10.0.0.7", pid=4242), progress]
    assert json.loads((tmp_path / "work" / "placement.json").read_text())["attempts"] == [
        {"attempt": 1, "node": "3a5e8214284b", "host": "node-1", "ip": "10.0.0.7", "pid": 4242, "outcome": "ok"}]
    assert (tmp_path / "work" / "policy.npz").read_bytes() == b"p"


def test_the_childs_progress_lines_become_events_at_the_boundary_and_malformed_ones_are_dropped(tmp_path, monkeypatch):
    from rewardsmith.config import TrainConfig
    from rewardsmith.events import TrainProgress
    from rewardsmith.execute import sandboxed
    from rewardsmith.sandbox.runner import SandboxResult

    def child(lines):  # a sandboxed job that writes `lines` as its progress, then fails
        def run_job(request, workdir, limits, on_progress=None, env=None):
            for line in lines:
                on_progress(line)
            return SandboxResult(JobStatus.ERROR, "stopped", None, 1, 0.1, "", ())

        return run_job

    good = {"step": 1024, "episode_return": 3.0, "terms": {"upright": 1.5}}
    lines = [good, {"step": "many"}, {"step": 1e999}, {"terms": {}}]
    request = sandboxed.TrainRequest("seed 0", "cartpole", "balance", "", TrainConfig(steps=2048), tmp_path / "a")
    seen = []
    monkeypatch.setattr(sandboxed, "run_job", child(lines))
    assert not sandboxed.train_in_sandbox(request, seen.append).ok
    assert [type(e) for e in seen] == [TrainProgress] and seen[0].id == "seed 0" and seen[0].total == 2048
    assert seen[0].point.step == 1024 and seen[0].point.terms == {"upright": 1.5}

    members = [dataclasses.replace(request, key=f"g0c0{i}#0", group_dir=tmp_path / "pop") for i in range(2)]
    keyed = [{"key": "g0c01#0", **good}, {"key": "g0c09#0", **good}, {"key": "g0c00#0", "step": "many"}]
    seen.clear()
    monkeypatch.setattr(sandboxed, "run_job", child(keyed))
    sandboxed.train_together(members, seen.append)
    assert [(e.id, e.point.step) for e in seen] == [("g0c01#0", 1024)]  # an unknown member and a bad line: dropped


def test_progress_totals_are_the_steps_really_trained(tmp_path):
    """--train-steps 2,000 on cart-pole's 64 x 32 batch trains 2,048 steps: the progress said "2,048/2,000"."""
    from rewardsmith.config import TrainConfig
    from rewardsmith.execute.sandboxed import TrainRequest, progress_of

    line = {"step": 2048, "episode_return": 3.0}
    for steps, trainer, total, asked in [(2000, "native", 2048, 2000), (2048, "native", 2048, None),
                                         (5000, "population", 4096, 5000), (100, "native", 2048, 100),
                                         (2000, "mjx", 2000, None)]:  # Brax rounds its own way: not predicted
        request = TrainRequest("g0c00#0", "cartpole", "balance", "", TrainConfig(steps=steps), tmp_path, trainer)
        event = progress_of(request, line)
        assert (event.total, event.asked) == (total, asked), (steps, trainer)


def test_only_the_expected_artifacts_are_written_from_a_task(tmp_path):
    from rewardsmith.execute.ray_executor import write_files

    write_files(tmp_path / "work", {"policy.npz": b"p", "../escaped": b"x", "trace.npz": "not bytes"})
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["policy.npz", "work"]


@pytest.mark.slow
def test_a_killed_driver_resumed_on_the_cluster_trains_only_the_unfinished(tmp_path):
    from rewardsmith.execute.ray_cluster import RAY_ENV, LocalCluster

    out = tmp_path / "runs"
    out.mkdir()
    with LocalCluster(nodes=2, cpus=1, read_only=(out,)) as cluster:
        sessions = {p.pid for p in cluster.procs}
        proc = evolve(out, "--executor", "ray", "--ray-address", cluster.address, env=RAY_ENV)
        deadline = time.monotonic() + 600
        while proc.poll() is None and time.monotonic() < deadline:  # until one candidate is evaluated
            records = [json.loads(p.read_text()) for p in out.glob("*/gen_00/cand_*/candidate.json")]
            if any(r["status"] == "evaluated" for r in records):
                break
            time.sleep(0.3)
        proc.kill()
        proc.communicate()
        (run,) = out.iterdir()
        finished = {d.name: (d / "work" / "policy.npz").stat().st_mtime_ns for d in cand_dirs(out)
                    if json.loads((d / "candidate.json").read_text())["status"] == "evaluated"}
        assert 1 <= len(finished) < 3
        gone = time.monotonic() + 60  # the dead driver's tasks end with it, their sandboxed children too
        while sandbox_workers_under(sessions) and time.monotonic() < gone:
            time.sleep(0.5)
        assert not sandbox_workers_under(sessions)
        resumed = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run)],
                                 capture_output=True, text=True, timeout=900, env={**os.environ, **RAY_ENV})
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert resumed.stdout.count(" on node ") == 3 - len(finished)  # only the unfinished were submitted
    for d in cand_dirs(out):
        assert json.loads((d / "candidate.json").read_text())["status"] == "evaluated"
        if d.name in finished:
            assert (d / "work" / "policy.npz").stat().st_mtime_ns == finished[d.name]


def test_the_users_envs_reach_a_node_as_a_module_its_sandboxed_training_resolves(tmp_path, monkeypatch):
    """What a Ray task does on its node with the user's envs the driver shipped, without Ray: the copy resolves
    in the sandboxed training even where REWARDSMITH_ENVS points nowhere useful (the node's own environment)."""
    import shutil

    from rewardsmith.config import TrainConfig
    from rewardsmith.execute.ray_executor import USER_ENVS_MODULE, shipped_user_envs, stage_user_envs
    from rewardsmith.execute.sandboxed import TrainRequest, train_in_sandbox
    from rewardsmith.resources import ENVS_DIR

    user = tmp_path / "my_envs"
    shutil.copytree(ENVS_DIR / "cartpole", user / "mycart")
    monkeypatch.delenv("REWARDSMITH_ENVS", raising=False)
    assert stage_user_envs(tmp_path / "ship0") is None  # no user folder: nothing extra ships
    monkeypatch.setenv("REWARDSMITH_ENVS", str(user))
    staged = stage_user_envs(tmp_path / "ship")
    assert staged == tmp_path / "ship" / USER_ENVS_MODULE and (staged / "mycart" / "model.xml").is_file()
    shutil.rmtree(user)  # the driver's folder is not on the node
    monkeypatch.setenv("REWARDSMITH_ENVS", str(tmp_path / "node_has_no_such_folder"))
    monkeypatch.syspath_prepend(str(tmp_path / "ship"))  # as Ray's py_modules puts it on the worker's path
    assert shipped_user_envs() == {"REWARDSMITH_ENVS": str(staged)}
    source = (ENVS_DIR / "cartpole" / "rewards" / "balance.py").read_text()
    request = TrainRequest("g0c00#0", "mycart", "balance", source, TrainConfig(steps=1024), tmp_path / "work")
    report = train_in_sandbox(request, env=shipped_user_envs())
    assert report.ok, report.reason
    assert report.train is not None and report.train.steps >= 1024


def test_a_node_death_with_the_head_gone_stops_the_run_instead_of_retrying(tmp_path):
    from ray import exceptions as rx

    from rewardsmith.config import TrainConfig
    from rewardsmith.execute.fanin import ExecutorUnavailable
    from rewardsmith.execute.ray_executor import train_with_retry
    from rewardsmith.execute.sandboxed import TrainRequest

    submitted = []

    class DiesWithTheCluster:
        def remote(self, request, checkpoint, cpus):
            submitted.append(request.key)
            raise rx.NodeDiedError("node 3a5e8214284b died")
            yield

    def head_gone() -> None:
        raise ExecutorUnavailable("lost the Ray cluster at 10.0.0.5:6379: its head refuses connections")

    request = TrainRequest("g0c01#0", "cartpole", "balance", "", TrainConfig(), tmp_path / "work")
    with pytest.raises(ExecutorUnavailable, match="its head refuses connections"):
        train_with_retry(DiesWithTheCluster(), request, lambda _: None, 1, items=iter, cluster_check=head_gone)
    assert submitted == ["g0c01#0"]  # not sent again to a cluster that is gone


def test_a_task_body_streams_what_its_thread_emits_then_returns_or_raises():
    from rewardsmith.execute.ray_executor import streamed

    def run(body):
        items = []
        while True:
            try:
                items.append(next(body))
            except StopIteration as end:
                return items, end.value

    def fine(emit):
        emit({"step": 1})
        emit({"step": 2})
        return "report"

    def broken(emit):
        emit({"step": 1})
        raise RuntimeError("the sandbox could not start")

    assert run(streamed(fine, 1)) == ([{"step": 1}, {"step": 2}], "report")
    with pytest.raises(RuntimeError, match="could not start"):
        run(streamed(broken, 1))


def test_the_confirmation_gives_every_rewards_seeds_to_the_executor_in_one_batch(tmp_path):
    """A slot freed by a seed that stops early takes the next training, whoever's it is: confirm() hands every
    candidate's seeds to the executor at once (one candidate at a time, a core idled for 9 of a live kneel run's
    19-minute confirmation). Reports come back in any order; each candidate's summary keeps seed order and is written
    as soon as its seeds are done; a candidate confirmed before a resume is not trained again."""
    from builders import evaluated

    from rewardsmith.config import RunConfig
    from rewardsmith.context import RunContext
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.events import SeedFinished
    from rewardsmith.execute.confirm import confirm
    from rewardsmith.execute.sandboxed import TrainReport
    from rewardsmith.execute.seeds import MultiSeedSummary, SeedResult
    from rewardsmith.runs.store import RunStore, write_record

    scores = {"g0c00": 0.6, "g0c01": 0.9, "g0c02": 0.7}
    batches: list[list[str]] = []

    class Recording:
        def run(self, requests, on_progress):
            batches.append([r.key for r in requests])
            for request in reversed(requests):  # the last one ends first
                cid, seed = request.key.split(" seed ")
                cand = evaluated(0, int(cid[-1]), scores[cid] + int(seed) / 100)
                yield TrainReport(request.key, JobStatus.OK, None,
                                  dataclasses.replace(cand.train, seed=request.cfg.seed), cand.evaluation)

    cfg = RunConfig(env="cartpole", task="balance", models=("openai/fake",), final_seeds=2, seed=0)
    spec = get_env("cartpole")
    events: list[SeedFinished] = []
    store = RunStore.create(tmp_path, "run", cfg)
    ctx = RunContext(store, cfg, spec, resolve_task(spec, "balance"),
                     lambda e: events.append(e) if isinstance(e, SeedFinished) else None)
    before = MultiSeedSummary((SeedResult(1, JobStatus.OK, None, 0.5, 0.75, 10.0, 2000, 1.0),
                               SeedResult(2, JobStatus.OK, None, 0.5, 0.75, 10.0, 2000, 1.0)))
    write_record(store.final_dir() / "g0c02" / "summary.json", before.to_dict())  # confirmed before a stop
    best, rival, resumed = evaluated(0, 0, 0.95), evaluated(0, 1, 0.9), evaluated(0, 2, 0.8)
    confirmation = confirm(ctx, best, [rival, resumed], Recording())
    assert batches == [["g0c00 seed 1", "g0c00 seed 2", "g0c01 seed 1", "g0c01 seed 2"]]
    got = {cid: [(s.seed, s.fitness) for s in summary.seeds] for cid, summary in confirmation.summaries.items()}
    assert got == {"g0c00": [(1, 0.61), (2, 0.62)], "g0c01": [(1, 0.91), (2, 0.92)], "g0c02": [(1, 0.5), (2, 0.5)]}
    assert list(confirmation.summaries) == ["g0c00", "g0c01", "g0c02"]
    for cid in ("g0c00", "g0c01"):
        written = json.loads((store.final_dir() / cid / "summary.json").read_text())
        assert [s["seed"] for s in written["seeds"]] == [1, 2]
    assert [e.training for e in events] == ["g0c01 seed 1", "g0c01 seed 2", "g0c00 seed 1", "g0c00 seed 2"]
    assert confirmation.answer.id == "g0c01"  # 0.915 from scratch over the search's best 0.615
