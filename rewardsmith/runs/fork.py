"""A fork: a new run that starts from a copy of another run's ranked generations (their candidates, trainings,
selections, prompts and LLM logs) and goes on with other settings, another model above all (`evolve --resume`
keeps a run's model). The original is only read, under its lock, so no evolve writes to it while it is copied; the
fork records where it came from in fork.json. A generation the original had not ranked is not copied: the fork's
first own generation is wholly the new model's."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from rewardsmith.config import RunConfig
from rewardsmith.runs.lock import run_lock
from rewardsmith.runs.store import RunStore, StoreError, new_run_id, write_record


def ranked_generations(store: RunStore) -> list[int]:
    """The generations 0, 1, ... that were ranked (a selection is saved), up to the first that was not."""
    ranked: list[int] = []
    for gen in store.generations():
        if gen != len(ranked) or not (store.gen_dir(gen) / "selection.json").is_file():
            break
        ranked.append(gen)
    return ranked


def fork_run(source: RunStore, out_dir: Path, cfg: RunConfig, generations: list[int]) -> RunStore:
    """The fork of `source` in `out_dir` with settings `cfg`, holding a copy of `generations`. Raises RunInUse while
    another process holds the source's lock, StoreError when the fork cannot be written (nothing is left behind)."""
    with run_lock(source):
        store = RunStore.create(out_dir, f"{new_run_id(cfg.env, cfg.task)}-fork", cfg)
        try:
            for gen in generations:
                shutil.copytree(source.gen_dir(gen), store.gen_dir(gen), symlinks=True)
            write_record(store.fork_path(), {
                "from": str(source.root.resolve()), "generations": len(generations),
                "models": list(source.config().models),  # who wrote the copied programs ([]: LLM-free mutations)
                "forked_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            })
        except OSError as err:  # a full disk, a read-only folder: no half-copied fork stays
            shutil.rmtree(store.root, ignore_errors=True)
            raise StoreError(f"the fork of {source.root} cannot be written in {out_dir}: {err.strerror or err}"
                             f"{f' ({err.filename})' if err.filename else ''}") from None
        except BaseException:  # Ctrl-C mid-copy
            shutil.rmtree(store.root, ignore_errors=True)
            raise
    return store
