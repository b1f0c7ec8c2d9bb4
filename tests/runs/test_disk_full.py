"""A disk that fills up mid-run: the run stops with one line naming the file and the way to go on, leaves nothing
half-written (every record is whole JSON, no temporary files), and resumes once there is room again. The child
process is the real command with one change: the write of the first evaluated candidate record fails with ENOSPC
after half of it reached the disk. Then the finished run is extended with `--resume RUN --iterations 2`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

FULL_DISK = textwrap.dedent("""
    import errno, pathlib, sys
    original = pathlib.Path.write_text
    armed = [True]

    def write_text(self, data, *args, **kwargs):
        if armed[0] and self.name.startswith(".candidate.json") and '"status": "evaluated"' in data:
            armed[0] = False
            original(self, data[: len(data) // 2], *args, **kwargs)  # half of it reached the disk
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return original(self, data, *args, **kwargs)

    pathlib.Path.write_text = write_text
    from rewardsmith.cli.app import app
    app(sys.argv[1:], prog_name="rewardsmith")
""")


def test_a_full_disk_stops_the_run_cleanly_and_it_resumes(tmp_path):
    out = tmp_path / "runs"
    args = ["evolve", "--env", "cartpole", "--task", "balance", "--llm-free", "--final-seeds", "0", "--race-seeds", "0", "--iterations", "1", "--samples", "1",
            "--train-steps", "2048", "--no-video", "--no-halving", "--out", str(out)]
    full = subprocess.run([sys.executable, "-c", FULL_DISK, *args], capture_output=True, text=True, timeout=600)
    assert full.returncode == 1, full.stdout + full.stderr
    (run,) = out.iterdir()
    (line,) = full.stderr.strip().splitlines()
    record = run / "gen_00" / "cand_00" / "candidate.json"
    assert line == (f"error: cannot write the run in {run}: No space left on device ({record}); make room (or fix "
                    f"the permissions), then rewardsmith evolve --resume {run}")
    assert "Traceback" not in full.stdout
    assert not [p for p in run.rglob("*") if ".tmp" in p.name], "no temporary file left behind"
    for path in run.rglob("*.json"):
        json.loads(path.read_text())  # every record on disk is whole
    assert json.loads(record.read_text())["status"] == "checked", "the record before the failed write stays"
    assert not (run / "result.json").exists()

    resumed = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert json.loads(record.read_text())["status"] == "evaluated"
    assert json.loads((run / "result.json").read_text())["best"] == "g0c00"

    # a finished run is extended by resuming it with more generations; generation 0 is kept as it was
    before = record.read_text()
    extended = subprocess.run([sys.executable, "-m", "rewardsmith.cli", "evolve", "--resume", str(run),
                               "--iterations", "2"], capture_output=True, text=True, timeout=600)
    assert extended.returncode == 0, extended.stdout + extended.stderr
    assert "generation 2/2" in extended.stdout and record.read_text() == before
    assert json.loads((run / "config.json").read_text())["iterations"] == 2
    assert json.loads((run / "gen_01" / "cand_00" / "candidate.json").read_text())["status"] == "evaluated"
    assert json.loads((run / "result.json").read_text())["generations"] == 2
