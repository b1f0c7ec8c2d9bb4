"""--max-cost: the worst case of each LLM request is checked before it is sent, the run stops cleanly with a line
saying what was spent and how to go on, and the resumed run replays what it already paid for (the response cache)
instead of asking again. Through the real litellm path to the fake server, with models litellm has prices for."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from builders import GOOD
from fake_llm import FakeLLM

from rewardsmith.llm.budget import Budget, CostCapReached, Prices, prompt_tokens, worst_case_usd

REPLY = f"Upright and centred:\n```python\n{GOOD}```"


def _rewardsmith(*args):
    env = {**os.environ, "OPENAI_API_KEY": "sk-fake-key-for-the-fake-server"}
    return subprocess.run([sys.executable, "-m", "rewardsmith.cli", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_the_worst_case_counts_the_prompt_and_every_choice_at_the_output_cap():
    price = Prices(input_per_token=1e-6, output_per_token=2e-6, max_output_tokens=1000)
    messages = [{"role": "user", "content": "word " * 500}]
    one, four = worst_case_usd(price, messages, 1), worst_case_usd(price, messages, 4)
    assert four - one == pytest.approx(3 * 1000 * 2e-6)
    assert one >= prompt_tokens(messages) * 1e-6 + 1000 * 2e-6
    png = iio.imwrite("<bytes>", np.zeros((512, 512, 3), dtype=np.uint8), extension=".png")
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}}
    with_image = [{"role": "user", "content": [{"type": "text", "text": "word " * 500}, image]}]
    assert prompt_tokens(with_image) >= prompt_tokens(messages) + 85, "an image is counted (85+ tokens at any size)"
    assert worst_case_usd(price, with_image, 1) > one
    budget = Budget(cap=0.01, spent=0.004, model_prices={"m": price})
    budget.reserve(0.005)
    with pytest.raises(CostCapReached, match=r"spent \$0.0090 of --max-cost \$0.0100"):
        budget.reserve(0.002)  # 0.004 spent + 0.005 reserved + 0.002 > 0.01: not sent
    budget.settle(0.005, 0.001)  # the answer cost less than its worst case
    budget.reserve(0.002)


def test_a_run_stops_before_passing_the_cap_and_resumes_without_paying_twice(tmp_path):
    out = tmp_path / "runs"
    with FakeLLM([], default=lambda request: REPLY) as fake:
        # gpt-4o-mini's worst case (~$0.0007) fits under $0.005, gpt-4o's (~$0.009) does not
        first = _rewardsmith("evolve", "--env", "cartpole", "--task", "balance", "--model", "openai/gpt-4o-mini", "--final-seeds", "0", "--race-seeds", "0",
                             "--model", "openai/gpt-4o", "--api-base", fake.base_url, "--iterations", "1",
                             "--samples", "2", "--train-steps", "2048", "--no-video", "--no-halving",
                             "--max-tokens", "500", "--max-cost", "0.005", "--out", str(out))
        asked_first = [r["model"] for r in fake.requests]
        (run,) = out.iterdir()
        candidates_at_stop = list(run.glob("gen_00/cand_*"))
        second = _rewardsmith("evolve", "--resume", str(run), "--max-cost", "0.03")
        asked_second = [r["model"] for r in fake.requests[len(asked_first):]]
    assert first.returncode == 3, first.stdout + first.stderr
    assert asked_first == ["gpt-4o-mini"], "gpt-4o was never asked: its worst case would pass the cap"
    (line,) = first.stderr.strip().splitlines()
    assert line.startswith("stopped: spent $0.0") and "of --max-cost $0.0050" in line
    assert f"rewardsmith evolve --resume {run} --max-cost 0.0" in line
    assert not candidates_at_stop, "nothing was checked or trained past the stop"

    assert second.returncode == 0, second.stdout + second.stderr
    assert asked_second == ["gpt-4o"], "gpt-4o-mini's answer came from the cache, not a second request"
    logs = [json.loads(p.read_text()) for p in (run / "gen_00" / "llm").glob("*.json")]
    assert sum(bool(log.get("cached")) for log in logs) == 1
    paid = sum(log["cost_usd"] for log in logs if not log.get("cached") and "cost_usd" in log)
    assert 0 < paid <= 0.03
    assert json.loads((run / "config.json").read_text())["max_cost"] == 0.03
    cands = [json.loads(p.read_text()) for p in sorted(run.glob("gen_00/cand_*/candidate.json"))]
    assert [(c["model"], c["status"]) for c in cands] == [("openai/gpt-4o-mini", "evaluated"),
                                                          ("openai/gpt-4o", "evaluated")]
    shown = _rewardsmith("show", str(run))
    assert shown.returncode == 0 and f"LLM spend: ${paid:.4f} paid of --max-cost $0.0300" in shown.stdout
