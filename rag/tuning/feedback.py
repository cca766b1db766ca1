"""Training examples from the interaction log's feedback (`rag tune-data --feedback`).

A thumbs-up answer becomes a target as it was given: its search query, the passages it was shown (in the same
order, so its "[n]" still point at them), its text — the pipeline's quotation lead-ins taken off, so the target
reads like the model's own cited sentences. A correction becomes a target grounded on a passage: the one its
`source` names, else the best of the answer's passages, holding at least `learning.support_share` of the
correction's content words; a correction no passage supports is reported and left out, so the model never
learns to say more than the documents. Thumbs-down answers without a correction teach nothing and are left out.

Some feedback is held out (a fixed share, chosen by the answer's id) for the adapter gate, and any question
that is an evaluation question is refused here, whatever path it came by.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..evaluation import normal_question, read_questions
from ..interactions import Interaction, InteractionLog
from ..interactions.feedback import parse_source
from ..prompting import REFUSAL, build_prompt
from ..text import content_words, share_found
from ..types import Hit
from .data import cited_answer

QUOTED = re.compile(r"“([^”]*)”")


def is_held_out(interaction_id: str, share: float) -> bool:
    """Whether this answer's feedback is kept for the gate: fixed by its id, so every run agrees."""
    digest = int(hashlib.sha256(interaction_id.encode()).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < share


def evaluation_questions(paths: Iterable[Path]) -> set[str]:
    return {normal_question(q.question) for path in paths for q in read_questions(path)}


@dataclass
class FeedbackReport:
    """What happened to each judged answer: counts by outcome, and the corrections left out, named."""

    counts: dict[str, int] = field(default_factory=dict)
    unsupported: list[dict] = field(default_factory=list)

    def add(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    def to_dict(self) -> dict:
        return {"counts": dict(sorted(self.counts.items())), "unsupported_corrections": self.unsupported}


def feedback_examples(log: InteractionLog, kb, since=None, *, evaluation: set[str] = frozenset(),
                      existing: Iterable[dict] = ()) -> tuple[list[dict], FeedbackReport]:
    """Examples shaped like `build_examples`' from the judged answers in `log` (newest verdict per question);
    questions in `evaluation` or already in `existing` examples are left out."""
    learning = kb.settings.learning
    report = FeedbackReport()
    taken = {normal_question(e["question"]) for e in existing}
    chosen: dict[str, dict] = {}
    for interaction in log.judged(since):
        key = normal_question(interaction.question)
        if key in evaluation:
            report.add("evaluation question (never trained on)")
        elif is_held_out(interaction.id, learning.held_out_share):
            report.add("held out for the gate")
        elif key in taken:
            report.add("duplicate of an existing example")
        else:
            example = _example(interaction, kb, report)
            if example is not None:
                if key in chosen:
                    report.add("superseded by a later verdict on the same question")
                chosen[key] = example  # judged() is oldest first: the latest verdict wins
    return list(chosen.values()), report


def held_out_feedback(log: InteractionLog, share: float, since=None) -> list[Interaction]:
    """The judged answers kept out of training for the gate."""
    return [i for i in log.judged(since) if is_held_out(i.id, share)]


def _example(interaction: Interaction, kb, report: FeedbackReport) -> dict | None:
    verdict = interaction.feedback
    if verdict.correction:
        return _correction_example(interaction, kb, report)
    if verdict.good is not True:
        report.add("thumbs-down without a correction" if verdict.good is False else "note only")
        return None
    if interaction.refused:
        target, kind = REFUSAL, "unanswerable"
    else:
        target, kind = model_words(interaction.answer, kb.settings.answering), "answerable"
    example = _prompted(interaction, interaction.hits, target, kind, "feedback: thumbs-up", kb,
                        needed=max(interaction.cited, default=0))
    if example is None:
        report.add("prompt budget cut a cited passage")
        return None
    report.add("thumbs-up answer")
    return example


def _correction_example(interaction: Interaction, kb, report: FeedbackReport) -> dict | None:
    correction, source = interaction.feedback.correction, interaction.feedback.source
    hits = list(interaction.hits[: kb.settings.generation.passages])
    grounding = supporting_passage(correction, source, hits, kb)
    if grounding is None:
        report.add("correction no passage supports (left out)")
        report.unsupported.append({"id": interaction.id, "question": interaction.question, "correction": correction,
                                   "source": source})
        return None
    if grounding not in hits:
        hits = hits[: kb.settings.generation.passages - 1] + [grounding]  # as build_examples does: the last slot
    position = hits.index(grounding) + 1
    example = _prompted(interaction, hits, cited_answer(correction, position), "answerable", "feedback: correction",
                        kb, needed=position)
    if example is None:
        report.add("prompt budget cut the supporting passage")
        return None
    report.add("correction")
    return example


def supporting_passage(correction: str, source: str | None, hits: list[Hit], kb) -> Hit | None:
    """The passage the correction rests on: among those `source` names (the answer's, else searched for in
    that file), or among the answer's own; the one holding most of its content words, if enough."""
    candidates = hits
    if source:
        file, page = parse_source(source)
        named = [h for h in hits if _is_source(h, file, page)]
        candidates = named or [h for h in kb.search(correction, kb.settings.retrieval.candidates)
                               if _is_source(h, file, page)]
    words = content_words(correction)
    scored = [(share_found(words, content_words(h.labelled_text)), -rank, h) for rank, h in enumerate(candidates)]
    best = max(scored, default=None, key=lambda s: s[:2])
    return best[2] if best and best[0] >= kb.settings.learning.support_share else None


def _is_source(hit: Hit, file: str, page: int | None) -> bool:
    source, wanted = Path(hit.source).as_posix(), Path(file).as_posix().lstrip("./")
    return (source == wanted or source.endswith("/" + wanted)) and (page is None or hit.page == page)


def model_words(answer: str, policy) -> str:
    """The answer as cited sentences: the quotation lead-ins taken off, the quoted sentences unquoted."""
    for lead in (policy.quotes_after, policy.quotes_lead):
        answer = answer.replace(lead, " ")
    return " ".join(QUOTED.sub(r"\1", answer).split())


def _prompted(interaction: Interaction, hits: list[Hit], target: str, kind: str, origin: str, kb,
              needed: int) -> dict | None:
    """The example, or None when the prompt budget leaves out a passage the target cites (the `needed`-th)."""
    generator, generation = kb.answerer.generator, kb.settings.generation
    query = interaction.search_query or interaction.question
    prompt = build_prompt(query, hits, generator.render, generator.count_tokens, generation.prompt_tokens,
                          kb.answerer.template, kb.settings.answering.min_passage_tokens)
    if len(prompt.passages) < needed:
        return None
    return {"messages": prompt.messages, "target": target, "kind": kind, "origin": origin,
            "question": interaction.question, "doc": Path(hits[0].source).as_posix() if hits else "",
            "interaction": interaction.id, "adapter_hash": interaction.adapter_hash}


def guarded_questions(settings, extra: Iterable[Path] = ()) -> set[str]:
    """Questions never to train on: the bundled evaluation questions, the gate's, and any `extra` files."""
    from ..bundled import bundled

    files = [bundled("corpora/homeowner-questions.jsonl"), *extra]
    if settings.learning.gate_questions:
        files.append(Path(settings.learning.gate_questions))
    return evaluation_questions(files)
