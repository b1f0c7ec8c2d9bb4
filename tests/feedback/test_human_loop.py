"""Human-in-the-loop evolution (ICPL) end to end, with the real CLI in a subprocess:

- a person ranks generation 0 on the review page in a real browser (Debian's /usr/bin/chromium through Playwright),
  the waiting `rewardsmith evolve` wakes, and the next prompt carries the comments, the best and the worst program;
  generation 1 is ranked from the terminal (`rewardsmith rank`) and the run finishes; bad terminal rankings fail
  with one line and exit code 2, and nothing is overwritten;
- a run interrupted while it waits is ranked from the terminal and resumed without retraining;
- `--feedback synthetic` ranks by fitness into the same ranking records.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.request import Request, urlopen

import numpy as np
import pytest
from fake_llm import FakeLLM

from rewardsmith.config import RunConfig
from rewardsmith.runs.store import RunStore

READY = re.compile(r"generation (\d+)/\d+ \(ids g(\d+)cNN\) is ready to rank: open (http://127\.0\.0\.1:\d+/)")


def _program(marker: str, centred: float, alive: float) -> str:
    return (f'SCALES = {{"upright": 1.0, "centred": {centred}, "alive": {alive}, "effort": -0.01}}\n\n\n'
            "def reward_terms(s, action, xp):\n"
            f"    # program {marker}\n"
            "    return {\n"
            '        "upright": s["pole_upright"],\n'
            '        "centred": xp.exp(-s["cart_x"] ** 2),\n'
            '        "alive": xp.ones_like(s["cart_x"]),\n'
            '        "effort": xp.sum(action ** 2, axis=-1),\n'
            "    }\n")


PROGRAMS = {m: _program(m, c, a) for m, c, a in
            (("A", 0.2, 0.5), ("B", 0.5, 1.0), ("C", 0.1, 0.2), ("D", 0.3, 0.5), ("E", 0.2, 0.8), ("F", 0.4, 0.4))}
SCRIPT = [f"Idea {m}: keep the pole up.\n\n```python\n{src}```\n" for m, src in PROGRAMS.items()]
BEST_COMMENT = "Keeps the pole up, but the cart drifts to the right edge."
GEN_COMMENT = "All of them wobble; penalize pole angular velocity."


class Rewardsmith:
    """A `rewardsmith` subprocess whose merged stdout/stderr is read line by line in a thread."""

    def __init__(self, *args: str, env: dict | None = None):
        base = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "REWARDSMITH_MODEL")}
        self.proc = subprocess.Popen([sys.executable, "-m", "rewardsmith.cli", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env={**base, **(env or {})})
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern | str, timeout: float, start: int = 0) -> re.Match:
        """The first line (from line `start` on) matching `pattern`; fails when the process ends or time runs out."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines[start:]:
                    if match := pattern.search(line):
                        return match
                if not self._reader.is_alive():
                    pytest.fail(f"rewardsmith ended (exit {self.proc.poll()}) before {pattern.pattern!r}:\n"
                                + "".join(self.lines))
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"no {pattern.pattern!r} within {timeout} s:\n" + "".join(self.lines))
                self._changed.wait(timeout=min(left, 1.0))

    def finish(self, timeout: float) -> int:
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.proc.returncode

    def interrupt(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.finish(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def rank(run: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", "rank", str(run), *args], capture_output=True,
                          text=True, timeout=120)


def run_dir_of(out: Path) -> Path:
    (run,) = out.iterdir()
    return run


def candidates(run: Path, gen: int) -> dict[str, dict]:
    cands = [json.loads(p.read_text()) for p in sorted((run / f"gen_{gen:02d}").glob("cand_*/candidate.json"))]
    return {c["id"]: c for c in cands}


def read_ranking(run: Path, gen: int) -> dict:
    return json.loads((run / f"gen_{gen:02d}" / "ranking.json").read_text())


def assert_refused(proc: subprocess.CompletedProcess, message: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


# ---- a person ranks in the browser, then in the terminal ---------------------------------------------------------

def _page_ranks_generation_0(browser, url: str, run: Path) -> tuple:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page_errors: list[str] = []
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    assert page.locator("#gen-picker").input_value() == "0"
    assert "awaiting your ranking" in page.inner_text("#gen-status")
    assert page.locator(".card").count() == 3 and page.locator("video").count() == 3

    # every video loads with a finite duration and plays
    page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 1)", timeout=20000)
    durations = page.eval_on_selector_all("video", "vs => vs.map(v => v.duration)")
    assert all(np.isfinite(d) and d > 0 for d in durations), durations
    page.click("#play-all")
    played = ("[...document.querySelectorAll('video')].every(v => { let t = 0;"
              " for (let i = 0; i < v.played.length; i++) t += v.played.end(i) - v.played.start(i);"
              " return t >= Math.min(0.2, v.duration / 2); })")
    page.wait_for_function(played, timeout=20000)
    assert not page.eval_on_selector_all("video", "vs => vs.some(v => v.error)")

    page.check("input[name='best'][value='g0c01']")
    page.check("input[name='worst'][value='g0c02']")
    page.fill("textarea.comment[data-id='g0c01']", BEST_COMMENT)
    page.fill("#gen-comment", GEN_COMMENT)
    page.click("#submit")
    page.wait_for_selector("#notice:not([hidden])", timeout=15000)
    assert page.locator("#error").is_hidden(), page.inner_text("#error")
    assert page.locator("textarea.comment[data-id='g0c01']").is_disabled()  # a ranked generation is read-only
    return page, page_errors


def test_rank_in_the_browser_then_in_the_terminal(tmp_path, browser):
    out = tmp_path / "runs"
    with FakeLLM(SCRIPT) as fake:
        evolve = Rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--feedback", "human",
                             "--review-port", "0", "--model", "openai/fake", "--api-base", fake.base_url,
                             "--iterations", "2", "--samples", "3", "--train-steps", "4096", "--out", str(out),
                             env={"OPENAI_API_KEY": "sk-fake"})
        try:
            ready = evolve.wait_for(READY, timeout=300)
            assert ready[1] == "1" and ready[2] == "0"
            url, run, mark = ready[3], run_dir_of(out), len(evolve.lines)
            assert (run / "gen_00" / "awaiting_ranking.json").is_file()
            assert not (run / "gen_00" / "selection.json").exists()  # it really waits
            gen0 = candidates(run, 0)
            assert [c["status"] for c in gen0.values()] == ["evaluated"] * 3

            page, page_errors = _page_ranks_generation_0(browser, url, run)
            saved = read_ranking(run, 0)
            assert (saved["best"], saved["worst"], saved["source"]) == ("g0c01", "g0c02", "human")
            assert saved["comments"] == {"g0c01": BEST_COMMENT} and saved["generation_comment"] == GEN_COMMENT

            # submitting the same ranking again is idempotent: 200, the first record, the file untouched
            before = (run / "gen_00" / "ranking.json").read_bytes()
            body = {"generation": 0, "best": "g0c01", "worst": "g0c02", "order": None,
                    "comments": {"g0c01": BEST_COMMENT}, "generation_comment": GEN_COMMENT, "source": "human"}
            request = Request(f"{url}api/generation/0/ranking", data=json.dumps(body).encode(), method="POST",
                              headers={"Content-Type": "application/json"})
            with urlopen(request, timeout=10) as response:
                assert json.loads(response.read())["submitted_at"] == saved["submitted_at"]
            assert (run / "gen_00" / "ranking.json").read_bytes() == before
            assert rank(run, "--best", "g0c01", "--worst", "g0c02", "--generation", "0", "-c",
                        f"g0c01={BEST_COMMENT}", "-c", GEN_COMMENT).returncode == 0

            # the waiting run wakes and builds generation 1's prompt on the ranking
            evolve.wait_for(r"generation 2/2", timeout=60)
            evolve.wait_for(r"g1c00 checked", timeout=120)
            selection = json.loads((run / "gen_00" / "selection.json").read_text())
            assert (selection["mode"], selection["best"], selection["worst"]) == ("human", "g0c01", "g0c02")
            assert not (run / "gen_00" / "awaiting_ranking.json").exists()
            prompt = json.loads((run / "gen_01" / "messages.json").read_text())["messages"][1]["content"]
            assert [r["messages"][1]["content"] for r in fake.requests][-1] == prompt  # what the LLM received
            for text in (BEST_COMMENT, GEN_COMMENT, gen0["g0c01"]["source"].strip(),
                         gen0["g0c02"]["source"].strip()):
                assert text in prompt
            assert prompt.index("judged BEST (g0c01)") < prompt.index("program B") \
                < prompt.index("judged WORST (g0c02)") < prompt.index("program C")
            assert "program A" not in prompt
            assert "Task score" not in prompt and "success rate" not in prompt

            # generation 1 waits; the open page offers to go there
            ready = evolve.wait_for(READY, timeout=300, start=mark)
            assert ready[2] == "1"
            page.wait_for_selector("#banner:not([hidden])", timeout=15000)
            assert "Generation 1 is waiting" in page.inner_text("#banner")
            assert not page_errors, page_errors
            page.close()

            # bad rankings from the terminal: one line, exit code 2, nothing written
            assert_refused(rank(run, "--best", "g0c00", "--worst", "g0c01", "--generation", "0"),
                           "generation 0 is already ranked")
            assert_refused(rank(run, "--best", "g1c07", "--worst", "g1c00"), "unknown candidate 'g1c07'")
            assert_refused(rank(run, "--best", "g1c01", "--worst", "g1c01"), "best and worst are both g1c01")
            assert (run / "gen_00" / "ranking.json").read_bytes() == before
            assert not (run / "gen_01" / "ranking.json").exists()

            ranked = rank(run, "--best", "g1c02", "--worst", "g1c00", "-c", "g1c02=steadier")
            assert ranked.returncode == 0, ranked.stderr
            assert "ranked generation 1: best g1c02, worst g1c00" in ranked.stdout
            assert evolve.finish(timeout=120) == 0, evolve.output
        finally:
            evolve.kill()
    assert read_ranking(run, 1)["comments"] == {"g1c02": "steadier"}
    assert json.loads((run / "result.json").read_text())["best"] == "g1c02"
    again = rank(run, "--best", "g1c02", "--worst", "g1c00", "-c", "g1c02=steadier", "--generation", "1")
    assert again.returncode == 0, again.stderr  # the same ranking again: accepted, nothing changes
    assert_refused(rank(run, "--best", "g1c01", "--worst", "g1c00"), "is not waiting for a ranking")


# ---- interrupted while waiting, ranked from the terminal, resumed ------------------------------------------------

def test_rank_an_interrupted_run_from_the_terminal_then_resume(tmp_path):
    out = tmp_path / "runs"
    args = ("--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--feedback", "human", "--review-port", "0",
            "--iterations", "2", "--samples", "2", "--train-steps", "2048", "--no-video", "--out", str(out))
    first = Rewardsmith("evolve", *args)
    try:
        ready = first.wait_for(READY, timeout=300)
        run = run_dir_of(out)
        assert ready[2] == "0" and f"rewardsmith rank {run} --best g0cNN" in first.output
        assert first.interrupt() != 0
    finally:
        first.kill()
    assert (run / "gen_00" / "awaiting_ranking.json").is_file()  # the run still waits, with no process
    assert not (run / "gen_00" / "selection.json").exists()
    stamps = {p: p.stat().st_mtime_ns for p in (run / "gen_00").glob("cand_*/**/*") if p.is_file()}
    assert len([p for p in stamps if p.name == "policy.npz"]) == 2

    ranked = rank(run, "--best", "g0c01", "--worst", "g0c00", "-c", "g0c01=less wobble")
    assert ranked.returncode == 0, ranked.stderr
    assert read_ranking(run, 0)["comments"] == {"g0c01": "less wobble"}

    port = _free_port()  # the run was started with --review-port 0; a resume may choose its port
    resumed = Rewardsmith("evolve", "--resume", str(run), "--review-port", str(port))
    try:
        ready = resumed.wait_for(READY, timeout=300)
        assert ready[2] == "1"  # straight on to generation 1: generation 0 is not retrained, nor awaited again
        assert ready[3] == f"http://127.0.0.1:{port}/"
        assert not re.search(r"g0c\d\d .*steps|g0c\d\d (checked|evaluated)", resumed.output), resumed.output
        assert "generation 1/2 (ids g0cNN)" not in resumed.output
        assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
        selection = json.loads((run / "gen_00" / "selection.json").read_text())
        assert (selection["best"], selection["worst"], selection["comments"]) == \
            ("g0c01", "g0c00", {"g0c01": "less wobble"})
        assert not (run / "gen_00" / "awaiting_ranking.json").exists()
        # LLM-free: generation 1 mutates the person's choice
        parent = candidates(run, 0)["g0c01"]["scales"]
        assert all(set(c["scales"]) == set(parent) and c["scales"] != parent for c in candidates(run, 1).values())
        ranked = rank(run, "--best", "g1c00", "--worst", "g1c01")
        assert ranked.returncode == 0, ranked.stderr
        assert resumed.finish(timeout=120) == 0, resumed.output
    finally:
        resumed.kill()
    assert json.loads((run / "result.json").read_text())["best"] == "g1c00"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_taken_review_port_is_one_clear_line_and_resume_can_change_it(tmp_path):
    store = RunStore.create(tmp_path, "run", RunConfig(env="cartpole", task="balance", feedback="human",
                                                       review_port=_free_port()))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", store.config().review_port))
        taken.listen()
        proc = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(store.root)],
                              capture_output=True, text=True, timeout=120)
    assert_refused(proc, "Address already in use); pass another --review-port, or --review-port 0")
    assert list(store.root.iterdir()) == [store.root / "config.json"]


# ---- synthetic preferences ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_synthetic_preferences_rank_by_fitness(tmp_path):
    """Slow (≈ 1.5 min: nine trainings); the rankers themselves are unit-tested in test_feedback.py."""
    proc = Rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--feedback", "synthetic",
                       "--iterations", "3", "--samples", "3", "--train-steps", "2048", "--no-video", "--seed", "2",
                       "--out", str(tmp_path))
    try:
        assert proc.finish(timeout=900) == 0, proc.output
    finally:
        proc.kill()
    run = run_dir_of(tmp_path)
    assert "ready to rank" not in proc.output
    for gen in range(3):
        cands = candidates(run, gen)
        fitness = {cid: c["evaluation"]["fitness_mean"] for cid, c in cands.items()}
        ranking, selection = read_ranking(run, gen), json.loads((run / f"gen_{gen:02d}" / "selection.json").read_text())
        assert ranking["source"] == "synthetic" and ranking["comments"] == {} and ranking["submitted_at"]
        assert sorted(ranking["order"]) == sorted(cands)
        assert [fitness[i] for i in ranking["order"]] == sorted(fitness.values(), reverse=True)
        assert (selection["mode"], selection["best"], selection["worst"]) == \
            ("synthetic", ranking["order"][0], ranking["order"][-1])
        assert selection["best_overall"] == selection["best"]  # ICPL: the last ranking's best is the parent
        assert fitness[selection["best"]] == max(fitness.values())
        if gen:  # LLM-free: the generation mutates the previous ranking's best
            parent = candidates(run, gen - 1)[read_ranking(run, gen - 1)["best"]]["scales"]
            assert all(set(c["scales"]) == set(parent) and c["scales"] != parent for c in cands.values())
        assert not (run / f"gen_{gen:02d}" / "messages.json").exists()  # no LLM, no prompt
    assert json.loads((run / "result.json").read_text())["best"] == read_ranking(run, 2)["best"]
