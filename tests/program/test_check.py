"""The pre-flight check: good programs pass; each kind of breakage gets its specific, actionable message.

The message tests call check_reward in this process on programs written here (trusted test code, not LLM output),
which keeps them fast; the reference rewards and the failure paths of the sandbox go through check_in_sandbox.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewardsmith.execute import check_stage
from rewardsmith.execute.check_stage import check_all, check_in_sandbox, checks_at_once, report_from_result
from rewardsmith.program.check import STATES_FILE, check_reward, load_states, sample_states, save_states
from rewardsmith.program.load import RewardProgramError, load_reward, safe_builtins, safe_xp, total_reward
from rewardsmith.records import CheckReport
from rewardsmith.sandbox.protocol import JobStatus
from rewardsmith.sandbox.runner import Limits, SandboxResult

REWARDS = Path(__file__).resolve().parents[2] / "envs" / "cartpole" / "rewards"
HEAD = 'SCALES = {"a": 1.0, "b": -0.5}\n\n\ndef reward_terms(s, action, xp):\n'


def program(*lines: str) -> str:
    return HEAD + "".join(f"    {line}\n" for line in lines)


def errors_of(source: str) -> str:
    report = check_reward("cartpole", "balance", source, samples=64)
    assert not report.passed
    return "\n".join(report.errors)


@pytest.mark.parametrize("task", ["balance", "swingup"])
def test_reference_rewards_pass_in_the_sandbox(tmp_path, task):
    report = check_in_sandbox("cartpole", task, (REWARDS / f"{task}.py").read_text(), tmp_path, Limits(wall_s=120))
    assert report.passed, report.errors
    assert report.terms and report.per_call_ms is not None and report.seconds > 0
    assert "scrubbed-env" in report.isolation


def test_good_program_passes_with_warnings():
    report = check_reward("cartpole", "balance", program('u = s["pole_upright"]', 'return {"a": u, "b": u * 0 + 2.0}'),
                          samples=64)
    assert report.passed, report.errors
    assert any("'b' is constant" in w for w in report.warnings)


BROKEN = [
    # (body lines, fragments every one of which the errors must contain)
    (['return {"a": s["tip_pos"][:, 2], "b": s["cart_x"]}'], ["line 5", "[..., i]"]),
    (['if s["cart_x"] > 0:', '    return {"a": s["cart_x"], "b": s["cart_x"]}', 'return {"a": 0, "b": 0}'],
     ["line 5", "xp.where"]),
    (['ok = s["cart_x"].max() > 0 and s["cart_x"].min() < 0', 'return {"a": s["cart_x"] * ok, "b": s["cart_x"]}'],
     ["jax.jit", "xp.where"]),
    (['x = s["cart_x"] * 1.0', 'x[0] = 1.0', 'return {"a": x, "b": x}'], ["line 6", "immutable"]),
    (['x = s["cart_x"]', 'x += 1.0', 'return {"a": x, "b": x}'], ["read-only", "in place"]),
    (['return {"a": xp.fix(s["cart_x"]), "b": s["cart_x"]}'], ["`xp.fix` is not available"]),
    (['x = s["cart_x"]', 'return {"a": x - xp.mean(x), "b": x}'], ["term 'a' differs between numpy and jax"]),
    (['return {"a": xp.sum(action ** 2, axis=1), "b": s["cart_x"]}'], ["axis=-1"]),
    (['return {"a": xp.log(s["cart_x"] * 0.0), "b": s["cart_x"]}'], ["term 'a' is not finite on 64 of 64", "Inf",
                                                                      "cart_x="]),
    (['return {"a": s["tip_pos"], "b": s["cart_x"]}'], ["term 'a' has shape (64, 3), expected (64,)"]),
    (['return {"a": 1.0, "b": s["cart_x"]}'], ["term 'a' is a float"]),
    (['return {"a": s["cart_x"] > 0, "b": s["cart_x"]}'], ["term 'a' has dtype bool"]),
    (['return {"a": s["cart_x"]}'], ["missing terms ['b']"]),
    (['return {"a": s["cart_x"], "b": s["cart_x"], "c": s["cart_x"]}'], ["extra terms ['c']"]),
    (['return [s["cart_x"]]'], ["returned a list"]),
    (['return {"a": s["cart_x"] * 1e9, "b": s["cart_x"]}'], ["term 'a' times its scale reaches"]),
    (['return {"a": s["pole_height"], "b": s["cart_x"]}'], ["no field 'pole_height'", "cart_x"]),
    (['return {"a": np.abs(s["cart_x"]), "b": s["cart_x"]}'], ["NameError", "xp"]),
    (['return {"a": s["cart_x"] * float(xp.max(s["cart_x"])), "b": s["cart_x"]}'], ["Python number"]),
    (['acc = s["cart_x"] * 0.0', 'for i in range(300):', '    for j in range(300):',
      '        acc = acc + xp.sin(acc) * 1e-9', 'return {"a": acc, "b": acc}'], ["ms per call", "vectorize"]),
]


@pytest.mark.parametrize("lines,fragments", BROKEN, ids=[f[0][:30] for _, f in BROKEN])
def test_broken_program_gets_specific_message(lines, fragments):
    text = errors_of(program(*lines))
    for fragment in fragments:
        assert fragment in text, text


def test_magnitude_warning():
    report = check_reward("cartpole", "balance", program('x = s["cart_x"]', 'return {"a": x * 5000.0, "b": x}'),
                          samples=64)
    assert report.passed and any("term 'a' times its scale" in w for w in report.warnings)


def test_static_failure_is_reported_without_running(tmp_path):
    workdir = tmp_path / "never"
    report = check_in_sandbox("cartpole", "balance", "import os\n" + program('return {}'), workdir)
    assert not report.passed and report.errors[0].startswith("line 1:")
    assert not workdir.exists()


def test_unknown_env_is_reported(tmp_path):
    report = check_in_sandbox("nope", "balance", (REWARDS / "balance.py").read_text(), tmp_path, Limits(wall_s=60))
    assert not report.passed and "valid envs" in report.errors[0]


def test_the_sandboxed_check_uses_the_states_the_parent_sampled(tmp_path, monkeypatch):
    """The parent samples the states once per run and places them in each check's folder: given 256 copies of one
    state, the worker finds a term that varies over real states constant."""
    source = program('x = s["cart_x"]', 'return {"a": x, "b": x * 2.0}')
    real = check_in_sandbox("cartpole", "balance", source, tmp_path / "real")
    assert real.passed and not any("constant" in w for w in real.warnings), real
    assert (tmp_path / "real" / "job.json").exists() and not (tmp_path / "real" / STATES_FILE).exists()
    s, action = sample_states("cartpole", "balance", 256, 0)
    one_state = {k: np.repeat(v[:1], len(v), axis=0) for k, v in s.items()}
    monkeypatch.setattr(check_stage, "sampled_states", lambda *args: (one_state, action))
    copies = check_in_sandbox("cartpole", "balance", source, tmp_path / "copies")
    assert copies.passed and any("'a' is constant" in w for w in copies.warnings), copies


def test_saved_states_load_as_they_were_sampled(tmp_path):
    s, action = sample_states("cartpole", "swingup", 64, 0)
    save_states(tmp_path / STATES_FILE, s, action)
    loaded, loaded_action = load_states(tmp_path / STATES_FILE)
    assert set(loaded) == set(s) and np.array_equal(loaded_action, action)
    for key, value in s.items():
        assert loaded[key].dtype == value.dtype and np.array_equal(loaded[key], value), key
    source = program('u = s["pole_upright"]', 'return {"a": u, "b": u * 0 + 2.0}')
    given = check_reward("cartpole", "swingup", source, samples=64, states=(loaded, loaded_action))
    own = check_reward("cartpole", "swingup", source, samples=64)
    assert given.passed and (given.errors, given.warnings) == (own.errors, own.warnings) and given.warnings


def _result(status: str, reason: str | None, result: dict | None = None) -> SandboxResult:
    return SandboxResult(JobStatus(status), reason, result, None, 1.0, "", ("rlimits",))


def test_report_from_sandbox_outcomes():
    timeout = report_from_result(_result("timeout", "exceeded the wall-clock limit of 5 s and was killed"))
    assert "vectorized" in timeout.errors[0] and timeout.isolation == ("rlimits",)
    killed = report_from_result(_result("killed", "exceeded the memory limit of 512 MB and was killed"))
    assert "huge arrays" in killed.errors[0]
    memory = report_from_result(_result("error", "MemoryError: out of memory"))
    assert "out of memory" in memory.errors[0]
    crashed = report_from_result(_result("crashed", "crashed with SIGSEGV"))
    assert "SIGSEGV" in crashed.errors[0]
    assert not any(r.passed for r in (timeout, killed, memory, crashed))


def test_report_from_forged_results_never_passes_with_errors():
    forged = report_from_result(_result("ok", None, {"passed": True, "errors": ["x"], "terms": "not a list"}))
    assert not forged.passed and forged.terms == ()
    odd = report_from_result(_result("ok", None, {"passed": "yes", "errors": [], "per_call_ms": "fast"}))
    assert not odd.passed and odd.per_call_ms is None
    assert report_from_result(_result("ok", None, {"passed": True, "errors": []})).passed
    assert isinstance(odd, CheckReport)


# --- program loading (the layers inside the worker) ---------------------------------------------------------------


def test_load_reward_enforces_the_static_policy():
    with pytest.raises(RewardProgramError, match="import os"):
        load_reward("import os\n" + program('return {"a": 0, "b": 0}'))


def test_restricted_namespace_and_guarded_inputs():
    loaded = load_reward(program('return {"a": s["x"] * 2, "b": xp.sum(action, axis=-1)}'))
    s, action = {"x": np.ones(3)}, np.ones((3, 2))
    total, terms = total_reward(loaded, s, action, np)
    np.testing.assert_allclose(total, 2.0 - 0.5 * 2.0)
    xp = safe_xp(np)
    assert hasattr(xp, "where") and hasattr(xp.linalg, "norm")
    for name in ("load", "save", "ctypeslib", "lib", "seterr", "memmap", "fromfile", "random", "testing"):
        assert not hasattr(xp, name), name
    assert "open" not in safe_builtins() and "getattr" not in safe_builtins()
    mutate = load_reward(program('x = s["x"]', 'x += 1', 'return {"a": x, "b": x}'))
    with pytest.raises(ValueError, match="read-only"):
        mutate.reward_terms(s, action, np)
    assert s["x"].flags.writeable and (s["x"] == 1).all()  # the caller's array is untouched, flags included


def test_import_guard():
    guard = safe_builtins()["__import__"]
    assert guard("math").pi == np.pi
    assert guard("numpy._core._methods")  # numpy's lazy imports from C code still work
    with pytest.raises(ImportError):
        guard("os")


def test_a_generations_checks_run_side_by_side_and_come_back_in_id_order(tmp_path, monkeypatch):
    """check_all starts every sample's sandboxed check before it waits for the first (up to checks_at_once), then
    saves and reports each candidate on the caller's thread in id order, whatever finished first."""
    import threading
    import time

    from rewardsmith.config import RunConfig
    from rewardsmith.context import RunContext
    from rewardsmith.env.registry import get_env, resolve_task
    from rewardsmith.records import Sample, Status
    from rewardsmith.runs.store import RunStore

    spans: dict[str, tuple[float, float]] = {}
    threads: set[int] = set()

    def timed_check(env_name, task_name, source, workdir, limits=None):  # the sandbox's place, the first slowest
        start = time.monotonic()
        threads.add(threading.get_ident())
        time.sleep(1.2 if "first" in source else 0.8)
        spans[Path(workdir).parent.name] = (start, time.monotonic())
        return CheckReport("fails" not in source, ("it fails",) if "fails" in source else (), (), ("a", "b"), 0.8, 0.1)

    monkeypatch.setattr(check_stage, "check_in_sandbox", timed_check)
    monkeypatch.setattr(check_stage, "available_cpus", lambda: [0, 1, 2, 3, 4, 5])
    cfg = RunConfig(env="cartpole", task="balance", models=("openai/fake",))
    spec = get_env("cartpole")
    reported: list[tuple[str, Status]] = []
    ctx = RunContext(RunStore.create(tmp_path, "run", cfg), cfg, spec, resolve_task(spec, "balance"),
                     lambda event: reported.append((event.id, event.status)))
    code = program('x = s["cart_x"]', 'return {"a": x, "b": x}')
    samples = [Sample(text=f"```python\n# first\n{code}```", error=None), Sample(text=None, error="timed out"),
               Sample(text="no code here", error=None), Sample(text=f"```python\n# fails\n{code}```", error=None),
               Sample(text=f"```python\n{code}```", error=None)]
    candidates = check_all(ctx, 0, 0, samples)
    statuses = [Status.CHECKED, Status.LLM_FAILED, Status.EXTRACT_FAILED, Status.CHECK_FAILED, Status.CHECKED]
    assert [(c.id, c.status) for c in candidates] == [(f"g0c0{i}", s) for i, s in enumerate(statuses)]
    assert reported == [(c.id, c.status) for c in candidates]
    assert [ctx.store.load_candidate(0, i).status for i in range(5)] == statuses
    assert len(spans) == 3 and len(threads) == 3  # all three under way before the first came back:
    assert max(start for start, _ in spans.values()) < min(end for _, end in spans.values())
    assert checks_at_once(5) == 4 and checks_at_once(1) == 1
