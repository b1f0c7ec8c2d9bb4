"""The sandbox: a corpus of hostile/broken reward programs, and probes that act like code which escaped Python.

tests/hostile/*.py: one program each; its first line says what it tries and the expected outcome:
  "# static: ..."     rejected by the static policy (never executed)
  "# contained: ..."  passes the static policy; the sandboxed check must fail it (or stop it) with a reason.
Probes (the worker's "selftest" job) test the OS-level layers directly. Where a layer is missing on a machine
(no root, no Landlock), the tests that need it are skipped and say which layer.
"""

from __future__ import annotations

import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rewardsmith.execute.check_stage import check_in_sandbox
from rewardsmith.jobs import JOBS, run_job
from rewardsmith.jobs.messages import SelftestJob
from rewardsmith.program.static import static_check
from rewardsmith.registry import UnknownNameError
from rewardsmith.sandbox.runner import Limits, SandboxResult, read_untrusted_file, run_in_sandbox, scrubbed_env

HOSTILE = Path(__file__).resolve().parent / "hostile"
REWARDS = Path(__file__).resolve().parents[2] / "envs" / "cartpole" / "rewards"
SENTINEL = Path("/tmp/rewardsmith_hostile_sentinel.txt")  # the path corpus programs try to write or delete
SECRETS = {
    "OPENAI_API_KEY": "sk-TEST-SECRET-123",
    "ANTHROPIC_API_KEY": "sk-ant-TEST-SECRET-456",
    "AWS_SECRET_ACCESS_KEY": "aws-TEST-SECRET-789",
    "MY_SERVICE_TOKEN": "tok-TEST-SECRET-000",
}
HOSTILE_LIMITS = Limits(wall_s=12, memory_mb=1024)  # 5 s timed out honest checks on a loaded 2-core CI machine


def corpus() -> list[tuple[str, str, str]]:
    """(name, expected outcome, source) for every program in tests/hostile/."""
    out = []
    for path in sorted(HOSTILE.glob("*.py")):
        source = path.read_text()
        out.append((path.stem, source.split("\n", 1)[0][2:].split(":", 1)[0], source))
    return out


STATIC = [(n, s) for n, kind, s in corpus() if kind == "static"]
CONTAINED = [(n, s) for n, kind, s in corpus() if kind == "contained"]


def _set_secrets(mp: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        mp.setenv(name, value)


def _no_secret_in(text: str) -> bool:
    return not any(value in text for value in SECRETS.values())


def _workdir_text(workdir: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in workdir.rglob("*") if p.is_file() and p.name != "job.json")


def selftest(tmp_path: Path, name: str, limits: Limits = Limits(wall_s=20), **payload) -> SandboxResult:
    return run_job(SelftestJob(name, payload), tmp_path / name, limits)


# --- the corpus ---------------------------------------------------------------------------------------------------


def test_corpus_is_complete():
    assert len(STATIC) + len(CONTAINED) >= 40
    assert len(CONTAINED) >= 15
    for name, kind, source in corpus():
        assert kind in ("static", "contained"), f"{name}: first line must be '# static: ...' or '# contained: ...'"
        assert len(source.split("\n", 1)[0]) > 20, f"{name}: say what the program tries"


@pytest.mark.parametrize("name,source", STATIC, ids=[n for n, _ in STATIC])
def test_static_corpus_is_rejected_without_running(name, source):
    violations = static_check(source)
    n_lines = source.count("\n") + 1
    assert violations, f"{name} passed the static policy"
    assert all(1 <= v.line <= n_lines and v.message.strip() for v in violations)


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    """Every contained program and the two reference rewards, checked concurrently in sandboxes, with secrets in
    this process's environment and a sentinel file the programs aim at."""
    root = tmp_path_factory.mktemp("corpus")
    SENTINEL.write_text("sentinel\n")
    before = SENTINEL.stat().st_mtime_ns
    jobs = [(name, "balance", source, HOSTILE_LIMITS) for name, source in CONTAINED]
    jobs += [(f"good_{task}", task, (REWARDS / f"{task}.py").read_text(), Limits(wall_s=120)) for task in
             ("balance", "swingup")]
    with pytest.MonkeyPatch.context() as mp:
        _set_secrets(mp)
        with ThreadPoolExecutor(4) as pool:
            futures = {name: pool.submit(check_in_sandbox, "cartpole", task, source, root / name, limits)
                       for name, task, source, limits in jobs}
            reports = {name: future.result() for name, future in futures.items()}
    yield {"root": root, "reports": reports, "sentinel_mtime": before}
    SENTINEL.unlink(missing_ok=True)


@pytest.mark.parametrize("name", [n for n, _ in CONTAINED])
def test_contained_program_fails_its_check(corpus_run, name):
    report = corpus_run["reports"][name]
    assert not report.passed
    assert report.errors and all(e.strip() for e in report.errors)
    assert "netns" in report.isolation or "rlimits" in report.isolation or "scrubbed-env" in report.isolation


def test_good_programs_pass_alongside_hostile_ones(corpus_run):
    for task in ("balance", "swingup"):
        report = corpus_run["reports"][f"good_{task}"]
        assert report.passed, report.errors
        assert report.per_call_ms is not None and report.per_call_ms < 50


def test_parent_survived_and_nothing_outside_workdirs_changed(corpus_run):
    assert SENTINEL.read_text() == "sentinel\n"
    assert SENTINEL.stat().st_mtime_ns == corpus_run["sentinel_mtime"]
    assert not list(Path("/tmp").glob("rewardsmith_pwned*"))
    assert os.getpid() > 0  # this process is still here, running the assertions


def test_secrets_never_reach_workdirs_or_reports(corpus_run):
    for name, report in corpus_run["reports"].items():
        assert _no_secret_in(json.dumps(report.__dict__, default=str)), name
        assert _no_secret_in(_workdir_text(corpus_run["root"] / name)), name


def test_specific_outcomes(corpus_run):
    reports = corpus_run["reports"]
    for name in ("huge_range_in_variable", "swallow_timeout"):  # the check's own 10 s limit or the sandbox's
        assert "wall-clock limit" in reports[name].errors[0] or "did not return within 10 s" in reports[name].errors[0]
    assert "memory" in reports["memory_bomb"].errors[0].lower()
    assert "memory" in reports["string_bomb"].errors[0].lower()
    assert "not finite" in reports["nan_term"].errors[0]
    assert "shape" in reports["wrong_shape"].errors[0]
    assert "[..., i]" in reports["batch_axis_indexing"].errors[0]
    assert "read-only" in reports["inplace_alias_mutation"].errors[0]


# --- probes: the OS-level layers ----------------------------------------------------------------------------------


def test_child_environment_is_scrubbed(tmp_path, monkeypatch):
    _set_secrets(monkeypatch)
    monkeypatch.setenv("XLA_FLAGS", "--xla_foo sk-TEST-SECRET-123")  # allow-listed name, secret value
    res = selftest(tmp_path, "environ")
    assert res.status == "ok", res.reason
    env = res.result["environ"]
    assert _no_secret_in(json.dumps(res.result)) and _no_secret_in(_workdir_text(tmp_path / "environ"))
    assert not [k for k in env if any(w in k for w in ("KEY", "TOKEN", "SECRET", "PASSWORD", "AWS_", "OPENAI"))]
    workdir = str((tmp_path / "environ").resolve())
    assert env["HOME"] == workdir and env["TMPDIR"] == workdir + "/tmp" and res.result["cwd"] == workdir
    assert workdir not in res.result["sys_path"] and "" not in res.result["sys_path"]
    assert {"new-session", "scrubbed-env", "tmp-cwd"} <= set(res.isolation)


def test_scrubbed_env_allow_list():
    env = scrubbed_env(Path("/w"), {"PATH": "/bin", "OPENAI_API_KEY": "sk-123456789", "MUJOCO_GL": "egl",
                                    "OMP_NUM_THREADS": "sk-123456789", "RANDOM_VAR": "x", "LD_PRELOAD": "/evil.so"})
    assert env["PATH"] == "/bin" and env["MUJOCO_GL"] == "egl" and env["HOME"] == "/w"
    assert "OPENAI_API_KEY" not in env and "OMP_NUM_THREADS" not in env and "RANDOM_VAR" not in env
    assert "LD_PRELOAD" not in env


def test_network_is_unreachable(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        res = selftest(tmp_path, "network", targets=[["127.0.0.1", port], ["1.1.1.1", 53]])
    finally:
        server.close()
    if not {"netns", "landlock-net"} & set(res.isolation):
        pytest.skip(f"no network isolation on this machine: {res.isolation}")
    assert res.status == "ok", res.reason
    assert all(outcome != "ok" for outcome in res.result["connect"].values()), res.result


def _landlock(res: SandboxResult) -> None:
    if "landlock-fs" not in res.isolation:
        pytest.skip("Landlock is not available here; file isolation then rests on the Python-level layers")


def test_writes_and_deletes_outside_the_workdir_are_denied(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    sentinel = outside / "sentinel.txt"
    sentinel.write_text("keep me")
    res = selftest(tmp_path, "write", paths=[str(sentinel), str(outside / "new.txt"), "/tmp/rewardsmith_pwned_probe"])
    _landlock(res)
    res2 = selftest(tmp_path, "delete", paths=[str(sentinel)])
    assert all("Permission" in v for v in res.result.values()), res.result
    assert "Permission" in res2.result[str(sentinel)]
    assert sentinel.read_text() == "keep me" and not (outside / "new.txt").exists()
    assert not Path("/tmp/rewardsmith_pwned_probe").exists()
    inside = selftest(tmp_path, "write", paths=[str(tmp_path / "write" / "tmp" / "ok.txt")])
    assert list(inside.result.values()) == ["5"]  # len("pwned"): written inside its own workdir


def test_parent_environ_and_other_files_are_unreadable(tmp_path, monkeypatch):
    _set_secrets(monkeypatch)
    (tmp_path / "secret.env").write_text("OPENAI_API_KEY=sk-TEST-SECRET-123\n")
    paths = [f"/proc/{os.getpid()}/environ", str(tmp_path / "secret.env"), "/etc/hostname"]
    res = selftest(tmp_path, "read", paths=paths)
    _landlock(res)
    assert _no_secret_in(json.dumps(res.result)), res.result
    assert "Permission" in res.result[paths[0]] and "Permission" in res.result[paths[1]]
    assert "Permission" not in res.result[paths[2]]  # system files stay readable


def test_cannot_signal_the_parent(tmp_path):
    res = selftest(tmp_path, "signal_parent")
    if "landlock-scope" not in res.isolation:
        pytest.skip("Landlock signal scoping (ABI 6) is not available here")
    assert "Operation not permitted" in res.result["kill"]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def _survivors(pids, within_s: float = 5.0) -> list[int]:
    """The pids still alive after up to `within_s` (a killed process group takes a moment to go on loaded cores;
    a kill that did not happen leaves them alive for good)."""
    deadline = time.monotonic() + within_s
    while (alive := [pid for pid in pids if _alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def test_fork_bomb_is_capped_and_killed(tmp_path):
    res = selftest(tmp_path, "fork_bomb", Limits(wall_s=20, max_processes=32))
    assert res.status == "ok", res.reason
    if "cgroup-pids" in res.isolation:
        assert res.result["forked"] < 32 and res.result["stopped_by"]
    assert not _survivors(res.result["pids"])


def test_fork_bomb_without_cgroups_dies_with_its_process_group(tmp_path, monkeypatch):
    """Where no cgroup can be made (non-root, GPU boxes here), the process-group kill still reaps a fork bomb."""
    import rewardsmith.sandbox.runner as sandbox

    monkeypatch.setattr(sandbox, "own_cgroup_dir", lambda controller: None)
    res = selftest(tmp_path, "fork_bomb", Limits(wall_s=20), n=100)
    assert res.status == "ok" and not {"cgroup-pids", "cgroup-memory"} & set(res.isolation)
    assert res.result["forked"] == 100 and not _survivors(res.result["pids"])


def test_daemon_that_left_the_process_group_is_killed(tmp_path):
    res = selftest(tmp_path, "orphan")
    if "cgroup-pids" not in res.isolation and "cgroup-memory" not in res.isolation:
        pytest.skip("no cgroup here: a process that calls setsid() can outlive the sandbox")
    assert not _survivors([res.result["pid"]])


def test_memory_limit_gives_a_memory_reason(tmp_path):
    res = selftest(tmp_path, "memory", Limits(wall_s=20, memory_mb=512), mb=2048)
    assert res.status in ("error", "killed") and "memory" in res.reason.lower(), res


def test_memory_cgroup_caps_the_whole_tree(tmp_path):
    res = selftest(tmp_path, "memory_children", Limits(wall_s=30, memory_mb=300), n=4, mb=280, hold_s=1.0)
    if "cgroup-memory" not in res.isolation:
        pytest.skip("no memory cgroup here: only the per-process RLIMIT_DATA applies")
    assert -9 in res.result["statuses"], res.result  # four children of 280 MB cannot share 300 + 512 MB


def test_timeout_kills_quickly(tmp_path):
    res = selftest(tmp_path, "sleep", Limits(wall_s=1.0), s=60)
    assert res.status == "timeout" and "wall-clock" in res.reason
    assert res.wall_s < 4


def test_cpu_limit(tmp_path):
    res = selftest(tmp_path, "spin", Limits(wall_s=20, cpu_s=1), s=30)
    assert res.status == "killed" and "CPU" in res.reason


def test_file_size_limit(tmp_path):
    res = selftest(tmp_path, "stdout", Limits(wall_s=20, file_mb=1), mb=5)
    assert (tmp_path / "stdout" / "stdout.txt").stat().st_size <= 2**20
    assert res.status in ("ok", "error", "killed", "crashed")


def test_crash_and_oversized_result_are_reported(tmp_path):
    crashed = selftest(tmp_path, "abort")
    assert crashed.status == "crashed" and "SIGABRT" in crashed.reason
    big = selftest(tmp_path, "big_result", n=40 * 2**20)
    assert big.status == "error" and "ResultTooLarge" in big.reason
    with pytest.raises(UnknownNameError, match="unknown sandbox job 'no_such_job'; valid: check, train, population, play, selftest"):
        JOBS.get("no_such_job")
    nowhere = run_in_sandbox("rewardsmith.jobs.selftest:no_such_function", {}, tmp_path / "nowhere", Limits(wall_s=20))
    assert nowhere.status == "error" and "names no function" in nowhere.reason


def test_progress_is_forwarded(tmp_path):
    events = []
    res = run_job(SelftestJob("progress", {"n": 5}), tmp_path / "p", Limits(wall_s=20), events.append)
    assert res.status == "ok" and events == [{"step": i} for i in range(5)]


def test_module_planted_in_the_workdir_is_not_imported(tmp_path):
    workdir = tmp_path / "planted"
    workdir.mkdir()
    (workdir / "json.py").write_text("raise SystemExit('planted module imported')\n")
    res = run_job(SelftestJob("echo", {"x": 1}), workdir, Limits(wall_s=20))
    assert res.status == "ok" and res.result == {"payload": {"probe": "echo", "x": 1}}


def test_links_planted_in_a_reused_workdir_are_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    workdir = tmp_path / "reused"
    workdir.mkdir()
    for name in ("stdout.txt", "stderr.txt", "job.json", "result.json"):
        (workdir / name).symlink_to(victim)
    res = run_job(SelftestJob("echo"), workdir, Limits(wall_s=20))
    assert res.status == "ok" and victim.read_text() == "precious"


def test_child_files_are_read_without_following_links(tmp_path):
    (tmp_path / "target").write_text("secret")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    os.mkfifo(tmp_path / "fifo")
    assert read_untrusted_file(tmp_path / "link", 100) is None
    assert read_untrusted_file(tmp_path / "fifo", 100) is None  # and does not block
    assert read_untrusted_file(tmp_path / "target", 100) == b"secret"


def test_sandbox_start_is_fast(tmp_path):
    """A bare worker start (no numpy/jax import) — printed for the record, bounded loosely."""
    start = time.monotonic()
    res = selftest(tmp_path, "echo")
    elapsed = time.monotonic() - start
    print(f"bare sandbox start + exit: {elapsed * 1000:.0f} ms")
    assert res.status == "ok" and elapsed < 10
