"""`rewardsmith show` on a run ranked by a vision judge (issue 25): it names the judge's model instead of calling the
run "LLM-free", counts the judge's tokens per generation and prints what the judge cost. The run is the fixture
tests/fixtures/run_v2 made into an LLM-free run judged by openai/gpt-4o, with the usage and log records judge.py
writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rewardsmith.cli.app import app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "run_v2"


def _show(run: Path, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        app(["show", str(run)], prog_name="rewardsmith")
    out = capsys.readouterr()
    assert stop.value.code == 0, out.err
    return out.out


def test_show_names_the_judge_and_counts_its_tokens_and_cost(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    plain = _show(run, capsys)
    assert "programs: LLM-free; feedback synthetic" in plain
    assert "judge tokens" not in plain and "(judge" not in plain and "spend" not in plain

    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "feedback": "judge", "judge_model": "openai/gpt-4o"}))
    gen = run / "gen_00"
    usage = {"prompt_tokens": 5800, "completion_tokens": 420, "cost_usd": 0.0187, "requests": 1}
    (gen / "usage_judge.json").write_text(json.dumps({"schema": 3, **usage, "images": 2}))
    (gen / "llm").mkdir()
    (gen / "llm" / "judge-0.json").write_text(json.dumps({"cost_usd": 0.0187}))  # the logged, paid request

    out = _show(run, capsys)
    assert "programs: LLM-free; feedback judge (judge openai/gpt-4o)" in out
    header, row = (line for line in out.splitlines() if "judge tokens" in line or line.startswith("│ 0 "))
    assert "prompt tokens" in header and row.split("│")[8].strip() == "6220"  # 5,800 + 420, in the judge's column
    assert row.split("│")[9].strip() == "0.0187"  # the generation's cost includes the judge's
    assert "judge spend: $0.0187 paid (no --max-cost)" in out
