"""A generation's ranking (Selection), who decided it (DecidedBy) and the selection rule's pick (Choice)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rewardsmith.records.base import SCHEMA_VERSION, check_schema, num, nums

MIN_SEEDS = 2  # training seeds each contender needs before a confident claim (seed-to-seed variance)


class Decider(enum.StrEnum):
    """Who decided a generation's ranking."""

    SCORE = "score"  # the task score (Eureka's metrics ranker)
    SYNTHETIC = "synthetic"  # the synthetic ranker: the task score standing in for a person (ICPL's proxy)
    PEOPLE = "people"  # one reviewer's ranking, or several reviewers' combined
    JUDGE = "judge"  # the vision judge
    NOBODY = "nobody"  # fewer than two evaluated candidates: nothing to compare


@dataclass(frozen=True)
class DecidedBy:
    """Who decided a generation (Selection.decided_by), as data; describe() words it for people and pages."""

    who: Decider
    reviewers: tuple[str, ...] = ()  # PEOPLE: the reviewers whose rankings counted ("" for one left unnamed)
    how: str = ""  # PEOPLE, several: what ended the wait ("all 3 reviewers ranked", "the review deadline passed ...")
    agreement_tau: float | None = None  # PEOPLE, several: the mean pairwise Kendall tau of their rankings
    same_best: bool | None = None  # PEOPLE, several: whether they all chose the same best
    judge_model: str | None = None  # JUDGE: the vision model
    # hybrid: the judge proposed an order first; a person kept it (True) or changed it (False); None: no proposal
    kept_judge_order: bool | None = None
    # the order the judge proposed (hybrid) or decided (judge) was partly or wholly the fallback (task score, else
    # candidate order): its replies were unusable or a candidate could not be shown. Never called the judge's order.
    judge_fallback: bool = False
    confident_why: str = ""  # JUDGE in hybrid: why its ranking could stand alone (its two looks agree ...)
    deadline_s: float | None = None  # JUDGE in hybrid: the review deadline no reviewer met
    legacy: str = ""  # a selection of schema <= 2: the words it recorded, shown as they were

    @property
    def several(self) -> bool:
        return self.who is Decider.PEOPLE and (len(self.reviewers) > 1 or " reviewers (" in self.legacy)

    def describe(self) -> str:
        """Who decided, in words ("the task score", "reviewer ana confirmed the judge's order", ...)."""
        if self.legacy:
            return self.legacy
        if self.who is Decider.PEOPLE:
            names = [name or "anonymous" for name in self.reviewers] or ["anonymous"]
            people = f"{len(names)} reviewers ({', '.join(names)}; {self.how})" if len(names) > 1 else \
                f"reviewer {names[0]}"
            if self.kept_judge_order is None:
                return people
            verb = "confirmed" if self.kept_judge_order else "changed"
            if self.judge_fallback:
                return f"{people} {verb} the fallback order (not the judge's own ranking)"
            return f"{people} {verb} the judge's order"
        if self.who is Decider.JUDGE:
            if self.deadline_s is None:
                fallback = ", its order completed by the fallback order" if self.judge_fallback else ""
                return f"the judge ({self.judge_model}){fallback}"
            return (f"the judge ({self.judge_model}): confident, {self.confident_why}; no reviewer by the "
                    f"{self.deadline_s:g} s deadline")
        return {Decider.SCORE: "the task score", Decider.SYNTHETIC: "the synthetic ranker (task score)",
                Decider.NOBODY: "nobody: fewer than two evaluated candidates"}[self.who]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "who": self.who.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecidedBy:
        return cls(who=Decider(data["who"]), reviewers=tuple(str(r) for r in data.get("reviewers") or ()),
                   how=str(data.get("how") or ""), agreement_tau=num(data.get("agreement_tau")),
                   same_best=data.get("same_best"), judge_model=data.get("judge_model"),
                   kept_judge_order=data.get("kept_judge_order"), judge_fallback=bool(data.get("judge_fallback")),
                   confident_why=str(data.get("confident_why") or ""),
                   deadline_s=num(data.get("deadline_s")), legacy=str(data.get("legacy") or ""))

    @classmethod
    def from_legacy(cls, mode: str, words: str) -> DecidedBy | None:
        """A schema-2 selection's words kept as they are; who decided is read from its ranker and the words' start
        (the only place words are read back, and only for runs written before this record existed)."""
        if not words:
            return None  # runs from before issue 16 recorded nobody
        if words.startswith("nobody"):
            return cls(Decider.NOBODY, legacy=words)
        who = {"metrics": Decider.SCORE, "synthetic": Decider.SYNTHETIC, "judge": Decider.JUDGE}.get(mode)
        if who is None:  # a person decided (human, hybrid), unless the hybrid judge's ranking stood
            who = Decider.JUDGE if words.startswith("the judge") else Decider.PEOPLE
        proposal = who is Decider.PEOPLE and words.endswith("the judge's order")
        return cls(who, kept_judge_order=words.endswith("confirmed the judge's order") if proposal else None,
                   legacy=words)


@dataclass(frozen=True)
class Choice:
    """A pick by the selection rule (rewardsmith/confidence.py) and how sure it is."""

    best: str | None
    order: tuple[str, ...]  # every compared candidate, most likely best first
    p_best: dict[str, float]
    contenders: tuple[str, ...]  # P(best) >= CONTENDER, the pick first
    seeds: dict[str, int]  # training seeds behind each contender's measurement
    confident: bool
    lines: dict[str, str]  # id -> its measurement in words ("success 1.00 [0.81, 1.00], score 0.718 [...]")
    rule: str  # the rule that made it (confidence.RULE), in words

    def statement(self) -> str:
        """The pick's confidence in one line, as `show`, the end of a run, the page and the export header say it."""
        if self.best is None:
            return "no candidate to compare"
        seeds = sum(self.seeds.get(c, 1) for c in self.contenders)
        sure = "" if self.confident else (" — not confident: a tie" if len(self.contenders) > 1 else
                                          f" — not confident: fewer than {MIN_SEEDS} seeds")
        return (f"best {self.best}: {self.lines[self.best]}, P(best) {self.p_best[self.best]:.2f} among "
                f"{len(self.contenders)} contender{'s' if len(self.contenders) != 1 else ''} ({seeds} seed"
                f"{'s' if seeds != 1 else ''}){sure}")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "statement": self.statement()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Choice:
        return cls(best=data.get("best"), order=tuple(data.get("order") or ()),
                   p_best={str(k): float(v) for k, v in (data.get("p_best") or {}).items()},
                   contenders=tuple(data.get("contenders") or ()),
                   seeds={str(k): int(v) for k, v in (data.get("seeds") or {}).items()},
                   confident=bool(data.get("confident")), lines=dict(data.get("lines") or {}),
                   rule=str(data.get("rule") or ""))



@dataclass(frozen=True)
class Selection:
    """The ranking of one generation and the parent the next generation builds on."""

    generation: int
    mode: str  # the ranker's name: metrics | synthetic | human | judge | hybrid
    ranking: tuple[str, ...]  # ranked candidate ids, best first
    fitness: dict[str, float | None]  # id -> task score of every evaluated candidate (None: not finite)
    best: str | None
    worst: str | None
    best_overall: str | None  # the parent of the next generation
    best_overall_fitness: float | None
    failed: dict[str, str | None]  # id -> reason of every failed candidate
    comments: dict[str, str] = field(default_factory=dict)  # id -> the reviewer's words
    generation_comment: str = ""
    decided_by: DecidedBy | None = None  # who decided (None: a run from before issue 16 recorded nobody)
    # the selection rule's pick among the generation's candidates and the parent, with its confidence (the rankers
    # that decide by the task score: metrics); None for the others and in runs before schema 3
    choice: Choice | None = None

    @property
    def decided_by_text(self) -> str:
        return self.decided_by.describe() if self.decided_by is not None else ""

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, **dataclasses.asdict(self),
                "decided_by": self.decided_by.to_dict() if self.decided_by is not None else None,
                "choice": self.choice.to_dict() if self.choice is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Selection:
        check_schema(data, f"the selection of generation {data.get('generation', '?')}")
        decided = data.get("decided_by")
        decided_by = DecidedBy.from_dict(decided) if isinstance(decided, Mapping) else \
            DecidedBy.from_legacy(str(data["mode"]), str(decided or ""))
        return cls(generation=int(data["generation"]), mode=str(data["mode"]), ranking=tuple(data.get("ranking") or ()),
                   fitness=nums(data.get("fitness")), best=data.get("best"), worst=data.get("worst"),
                   best_overall=data.get("best_overall"), best_overall_fitness=num(data.get("best_overall_fitness")),
                   failed=dict(data.get("failed") or {}), comments=dict(data.get("comments") or {}),
                   generation_comment=str(data.get("generation_comment") or ""), decided_by=decided_by,
                   choice=Choice.from_dict(data["choice"]) if data.get("choice") else None)
