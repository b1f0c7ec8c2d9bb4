"""The records that move between the stages of a generation, and how the run store writes and reads them.

    sample ─► Candidate(PENDING) ─► check_all ─► Candidate(CHECKED | *_FAILED, CheckReport)
           ─► train_all ─► Candidate(EVALUATED, TrainResult, Evaluation) ─► film_all ─► Candidate(+ Film)
           ─► rank ─► Selection ─► reflect ─► the next prompt

Every record is a frozen dataclass; a change is a new record (`dataclasses.replace`). A failed candidate is a
record with a failed Status and a reason, never a sentinel number. Standard library only: the sandboxed worker
imports this module too.

Metric keys (one scheme for every trainer, MuJoCo Playground's): a reward term `k` is reported as `reward/k`, its
scaled contribution (SCALES[k] * term) summed over an episode; `fitness` is the task score per step and
`diverged` the share of episodes ended by a physics blow-up. TrainResult.curve and Evaluation.terms key terms by
their bare names; the `reward/` prefix is for flat metric dicts (progress callbacks, the MJX env's metrics).

Schema versions (each JSON file of a run carries `"schema"`):
  1  runs written before records existed: plain dicts without a version field, the same field names (loadable)
  2  these records; a candidate carries its film
  3  a Selection's `decided_by` is a DecidedBy record (it was words: "the task score", "reviewer ana confirmed the
     judge's order", ...); a selection of schema 2 is read into a DecidedBy that keeps its words (DecidedBy.legacy).
     A candidate's `stop` says what ended its training (its `stopped_at` was halving's budget only); a TrainResult
     says whether it reached success; an Evaluation keeps each episode's score and length; a Film says which
     evaluation episode each video shows (the representative, and the worst when the spread is large), its score
     and how it ended (FilmedEpisode). Films of schema 2 and earlier runs load with no episodes: their video
     shows evaluation episode 0. The new fields only add to schema 3 (an older reader ignores them), so the
     version stays. A candidate of an `evolve --select-robust` run adds its worst case under stress (`stress`, a
     Robustness), again only an addition

The records live in records/base.py (schema, the evaluation seed, numbers), records/candidate.py (a candidate and
what happened to it) and records/selection.py (a generation's ranking and who decided it); import them from here.
"""

from rewardsmith.records.base import (
    EVAL_SEED,
    SCHEMA_VERSION,
    TERM_PREFIX,
    SchemaError,
    check_schema,
    num,
    nums,
    term_key,
)
from rewardsmith.records.candidate import (
    Candidate,
    CheckReport,
    CurvePoint,
    Evaluation,
    Film,
    FilmedEpisode,
    Robustness,
    Sample,
    SeedEvaluation,
    Status,
    Stop,
    TermStats,
    TrainResult,
)
from rewardsmith.records.selection import MIN_SEEDS, Choice, DecidedBy, Decider, Selection

__all__ = ["EVAL_SEED", "MIN_SEEDS", "SCHEMA_VERSION", "TERM_PREFIX", "Candidate", "CheckReport", "Choice",
           "CurvePoint", "DecidedBy", "Decider", "Evaluation", "Film", "FilmedEpisode", "Robustness", "Sample",
           "SchemaError", "SeedEvaluation", "Selection", "Status", "Stop", "TermStats", "TrainResult", "check_schema",
           "num", "nums", "term_key"]
