"""The evaluation gate a retrained adapter passes before it is put in use (`rag adapters promote`).

The candidate and the adapter in use answer the same held-out questions, side by side as `rag eval --ab` does:
a fixed third of the bundled question file's `tune` split (never trained on: the leak test guards it; the frozen
`test` split is only ever reported, so no promotion is chosen by it), or
`learning.gate_questions`, plus the feedback held out of training. The candidate is refused when it is worse
than the adapter in use by more than `learning.gate_margin` on correctness, citation precision, refusing the
unanswerable, or false refusals (where more is worse).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..bundled import bundled
from ..evaluation import Question, evaluate_answers, read_questions, select_split
from ..interactions import Interaction

# (metric, +1 when higher is better, -1 when lower is)
GATED = (("correct", 1), ("citation_precision", 1), ("unanswerable_refused", 1), ("false_refusal", -1))
HELD_OUT_EVERY = 3  # every third bundled tune question is the gate's, in file order: the same set everywhere

Evaluate = Callable[[str, list[Question]], dict]  # (adapter folder or "", questions) -> answer_metrics overall


def gate_questions(settings) -> list[Question]:
    learning = settings.learning
    if learning.gate_questions:
        questions = read_questions(learning.gate_questions)
    else:
        questions = select_split(read_questions(bundled("corpora/homeowner-questions.jsonl")), "tune")
        questions = questions[::HELD_OUT_EVERY]
    return questions[: learning.gate_limit or None]


def feedback_questions(judged: list[Interaction]) -> list[Question]:
    """Held-out judged answers as questions: a good answer's cited documents are gold, a good refusal says the
    documents don't answer it, a correction's named source is gold. Their wording is not a gold phrase, so
    these questions gate citations and refusals, not correctness."""
    questions = []
    for interaction in judged:
        verdict = interaction.feedback
        if verdict.correction and verdict.source:
            gold = [verdict.source.split("#")[0]]
        elif verdict.good and interaction.refused:
            gold = []
        elif verdict.good:
            gold = sorted({interaction.hits[n - 1].source for n in interaction.cited if n <= len(interaction.hits)})
            if not gold:
                continue
        else:
            continue
        questions.append(Question(interaction.id, interaction.question, [], gold, "feedback"))
    return questions


@dataclass
class Verdict:
    passed: bool
    margin: float
    figures: dict = field(default_factory=dict)  # {question set: {metric: {"candidate": x, "in_use": y}}}
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "margin": self.margin, "figures": self.figures, "failures": self.failures}


def compare(candidate: dict, in_use: dict, margin: float, label: str, skip: tuple[str, ...] = ()) -> tuple[dict, list]:
    figures, failures = {}, []
    for metric, direction in GATED:
        new, old = candidate.get(metric), in_use.get(metric)
        if metric in skip or new is None or old is None:
            continue
        figures[metric] = {"candidate": new, "in_use": old}
        worse_by = (old - new) * direction
        if worse_by > margin + 1e-9:
            failures.append(f"{metric} on {label}: candidate {new:.3f} vs in use {old:.3f} "
                            f"(worse by {worse_by:.3f}, margin {margin:.3f})")
    return figures, failures


def run_gate(candidate: str, in_use: str, question_sets: dict[str, list[Question]], margin: float,
             evaluate: Evaluate) -> Verdict:
    """Both adapters on every non-empty question set; refused when any gated figure is worse beyond `margin`."""
    figures, failures = {}, []
    for label, questions in question_sets.items():
        if not questions:
            continue
        skip = ("correct",) if label == "held-out feedback" else ()
        figures[label], failed = compare(evaluate(candidate, questions), evaluate(in_use, questions), margin, label,
                                         skip)
        failures += failed
    return Verdict(passed=not failures, margin=margin, figures=figures, failures=failures)


def knowledge_base_evaluation(settings, open_knowledge_base) -> Evaluate:
    """Answer with the named adapter (logging off: the gate's own answers are not homeowners' questions)."""
    opened: dict[str, object] = {}  # one knowledge base per adapter: its model loads once for every question set

    def evaluate(adapter: str, questions: list[Question]) -> dict:
        if adapter not in opened:
            opened[adapter] = open_knowledge_base(settings.with_overrides(generation__adapter=str(adapter),
                                                                          log__enabled=False))
        return evaluate_answers(opened[adapter].ask, questions)[0]["overall"]

    return evaluate


def same_adapter(first: str, second: str) -> bool:
    from .registry import adapter_hash

    if not first or not second:
        return first == second
    return Path(first).resolve() == Path(second).resolve() or adapter_hash(Path(first)) == adapter_hash(Path(second))
