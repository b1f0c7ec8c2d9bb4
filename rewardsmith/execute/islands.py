"""evolve --islands N: each generation's K samples are split over N islands, each with its own parent and history.

Eureka's greedy loop keeps one parent, so one bad generation decides the whole run's line. With islands, each
island's candidates are sampled from its own parent (LLM-free: its mutations; LLM: a prompt that shows its parent
and its own last generation, selection and history only), and each island keeps its own best, so a different idea
survives a generation in which it lost to another island's.

The split: K over N as evenly as possible, the earlier islands taking the remainder (K=5, N=2: 3 and 2; config's
split_samples). K < N is refused. The starting reward (--init, or the LLM-free mode's reference) competes on island 0
only, so it is trained once; the other islands start from mutations of it (LLM-free) or their own LLM samples.

A generation: every island samples and checks its share (its own rounds, files gen_XX/round_iN_R.json,
messages_iN.json), then the generation trains as one (the same budget per candidate as without islands, so equal K
is equal LLM calls and env steps), except successive halving, which halves within each island: across islands it
would cut a whole weaker island's candidates at the first rung and leave that island a parent measured at a quarter
of the budget, ending its line by another island's strength. Racing (more seeds while the pick is unsure) acts over
the generation against the run's best, as without islands: it only adds seeds and never drops a candidate, so no
island loses its own pick by it. The ranker ranks the whole generation once (the run's selection, selection.json,
against the run's best: what `show`, the report and the answer read); each island's selection
(selection_iN.json) is then its own: under the selection rule (metrics) the rule over the island's candidates and
the island's parent (elitist per island); under a ranking (synthetic, human, judge, hybrid) the island's best in
the generation's ranking (people rank every island's candidates on one page, once).

Migration, every M generations (--migrate-every M, default 2; 0: never): after generation g with (g + 1) % M == 0 (and
not after the last), the run's best so far (the run's selection's pick) becomes the parent of the island whose parent
is worst (lowest task score; ties, or no score: the lower place in that generation's ranking, then the later island),
unless it already is that island's parent or that parent scores as well (a live relay run migrated a 1.0 over another
island's 1.0, ending a line that was no worse). Why: the best idea reaches the island that needs it most, while the
other islands keep their own lines; every M generations rather than each, so a line gets M generations to improve
before it can be replaced; and only one island, so that N - 1 lines never depend on the best's. Each generation's
parents and the migration before it are recorded in gen_XX/islands.json. A resumed run recomputes the parents from the
saved selections (and so the same migrations).

The answer: the run's best, confirmed from scratch (--final-seeds) with its contenders and every island's final
parent (execute/confirm.py), so the confirmation decides between the islands' bests on fresh seeds.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from rewardsmith.config import split_samples
from rewardsmith.context import RunContext
from rewardsmith.execute.executors import Executor
from rewardsmith.feedback.rankers import RANKERS, Ranker, score
from rewardsmith.records import Candidate, Selection
from rewardsmith.runs.store import write_record


@dataclass(frozen=True)
class Migration:
    """The run's best copied into the worst island as its parent, before `generation` (execute/islands.py's rule)."""

    generation: int  # the first generation sampled from the migrant
    best: str  # the run's best so far, the migrant
    island: int  # the island that took it
    replaced: str | None  # that island's parent before


@dataclass(frozen=True)
class Islands:
    """Each island's parent for one generation and the migration that preceded it (None: none happened)."""

    generation: int
    parents: tuple[Candidate | None, ...]
    migration: Migration | None = None

    @property
    def count(self) -> int:
        return len(self.parents)

    def to_dict(self) -> dict[str, object]:
        return {"generation": self.generation, "parents": [p.id if p else None for p in self.parents],
                "migration": dataclasses.asdict(self.migration) if self.migration else None}


def first_islands(ctx: RunContext) -> Islands:
    """Generation 0: no island has a parent yet."""
    return Islands(0, (None,) * ctx.cfg.islands)


def sizes(ctx: RunContext) -> list[int]:
    """Each island's share of the generation's K samples (the earlier islands take the remainder)."""
    return split_samples(ctx.cfg.samples, ctx.cfg.islands)


def record(ctx: RunContext, islands: Islands) -> None:
    write_record(ctx.store.gen_dir(islands.generation) / "islands.json", islands.to_dict())


def train_islands(ctx: RunContext, candidates: list[Candidate], executor: Executor,
                  train: Callable[[RunContext, list[Candidate], Executor], list[Candidate]],
                  halving: bool) -> list[Candidate]:
    """The generation's trainings: as one where every candidate trains the full budget, island by island where
    halving cuts (the cut is then within each island; see the module's docstring)."""
    if not halving:
        return train(ctx, candidates, executor)
    trained = {c.id: c for island in range(ctx.cfg.islands)
               for c in train(ctx, [c for c in candidates if c.island == island], executor)}
    return [trained[c.id] for c in candidates]


def select_islands(ctx: RunContext, gen: int, candidates: list[Candidate], generation: Selection,
                   islands: Islands, ranker: Ranker) -> None:
    """Saves each island's own selection of generation `gen` (next_islands and the prompts read them from the store;
    a resumed run finds them there and keeps them)."""
    by_rule = RANKERS.get(ctx.cfg.feedback).by_rule
    for island, parent in enumerate(islands.parents):
        if ctx.store.load_selection(gen, island) is None:
            own = [c for c in candidates if c.island == island]
            chosen = ranker.rank(gen, own, parent) if by_rule else _within(generation, own, parent)
            ctx.store.save_selection(chosen, island)


def _within(generation: Selection, own: list[Candidate], parent: Candidate | None) -> Selection:
    """An island's part of the generation's ranking: its best there is its next parent (its parent stays where
    none of its candidates was ranked)."""
    ids = {c.id for c in own}
    order = tuple(cid for cid in generation.ranking if cid in ids)
    kept = {c.id: c for c in own}
    best = kept[order[0]] if order else parent
    return dataclasses.replace(
        generation, ranking=order, best=order[0] if order else None, worst=order[-1] if len(order) > 1 else None,
        fitness={k: v for k, v in generation.fitness.items() if k in ids},
        failed={k: v for k, v in generation.failed.items() if k in ids},
        comments={k: v for k, v in generation.comments.items() if k in ids},
        best_overall=best.id if best else None,
        best_overall_fitness=score(best) if best is not None and score(best) > -math.inf else None, choice=None)


def next_islands(ctx: RunContext, done: Islands, generation: Selection) -> Islands:
    """The parents of the generation after `done` (whose selections are saved), migration included."""
    gen = done.generation
    parents = []
    for island, before in enumerate(done.parents):
        own = ctx.store.load_selection(gen, island)
        pick = own.best_overall if own is not None else None
        parents.append(ctx.store.find_candidate(pick) if pick else before)
    every = ctx.cfg.migrate_every
    if not every or (gen + 1) % every or gen + 1 >= ctx.cfg.iterations or generation.best_overall is None:
        return Islands(gen + 1, tuple(parents))
    best = ctx.store.find_candidate(generation.best_overall)
    worst = worst_island(ctx, parents, generation)
    replaced = parents[worst]
    version = ctx.task.fitness_version
    if replaced is not None and (replaced.id == best.id or score(replaced, version) >= score(best, version)):
        return Islands(gen + 1, tuple(parents))  # already there, or a tie: replacing it would end a line no worse
    parents[worst] = best
    return Islands(gen + 1, tuple(parents), Migration(gen + 1, best.id, worst, replaced.id if replaced else None))


def worst_island(ctx: RunContext, parents: list[Candidate | None], generation: Selection) -> int:
    """The island whose parent is worst: the lowest task score; ties (or no score) the lower place in the
    generation's ranking (absent: lowest), then the later island."""
    version = ctx.task.fitness_version
    place = {cid: i for i, cid in enumerate(generation.ranking)}

    def key(island: int) -> tuple[float, float, int]:
        parent = parents[island]
        at = place.get(parent.id, math.inf) if parent is not None else math.inf
        return score(parent, version), -at, -island

    return min(range(len(parents)), key=key)


def island_contenders(ctx: RunContext, islands: Islands) -> list[Candidate]:
    """Every island's final parent: contenders of the confirmation from scratch beside the run's own."""
    return [p for p in islands.parents if p is not None]
