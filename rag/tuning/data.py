"""Training examples from the project's own corpus, shaped exactly like answering prompts.

Each question/answer pair written for `corpora/homeowner` becomes a prompt with
the passages the real retriever returns for it (distractors included), packed
into the same passage count and token budget as at answering time. The target
is, by default, the pair's supporting sentence as the passage words it, with the
passage's number after it: answers are checked against the passages word by
word, and a model taught to pick and repeat the sentence that answers gets past
those checks with the right sentence (one taught the pairs' own wording answered
no better than the base model). If retrieval missed the supporting passage, it
takes the last slot, so the target is always grounded. A few questions are
paired with passages retrieved for an unrelated question; their target is the
refusal sentence. Few, because refusing is mostly the calibrated evidence gate's
job: a model taught to decline often declines on unfamiliar documents that do answer.
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from pathlib import Path
from typing import Iterable

from ..prompting import REFUSAL, PromptTemplate, build_prompt
from ..text import split_sentences
from ..types import Hit

REFUSAL_SHARE = 0.02
TARGETS = {"support": "supporting sentence as the passage words it", "answer": "answer in its own words"}


def read_pairs(paths: Iterable[Path]) -> list[dict]:
    pairs = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                pairs.append(json.loads(line))
    return pairs


def _holds(hit: Hit, doc: str, support: str) -> bool:
    same_doc = Path(hit.source).as_posix().endswith("/" + doc)
    return same_doc and " ".join(support.split()[:8]) in " ".join(hit.text.split())


def cited_answer(answer: str, n: int) -> str:
    """The answer with "[n]" after every sentence, as the instruction asks."""
    return " ".join(f"{sentence} [{n}]" for sentence in split_sentences(answer.strip()) if sentence)


def build_examples(pairs: list[dict], kb, passages: int | None = None, prompt_tokens: int | None = None,
                   seed: int = 0, template: PromptTemplate | None = None, target: str = "support") -> list[dict]:
    """JSON-ready examples: {"messages", "target", "kind", "origin", "question", "doc"}.
    `passages` and `prompt_tokens` default to what answering uses (the knowledge base's settings.generation);
    `target` is "support" (the passage's own answering sentence) or "answer" (the pair's answer in other words)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of: {', '.join(TARGETS)} (not {target!r})")
    generation = kb.settings.generation
    passages = passages or generation.passages
    prompt_tokens = prompt_tokens or generation.prompt_tokens
    min_passage_tokens = kb.settings.answering.min_passage_tokens
    rng = random.Random(seed)
    generator = kb.answerer.generator
    examples = []
    order = list(range(len(pairs)))
    rng.shuffle(order)
    refusals = set(order[: max(1, round(len(order) * REFUSAL_SHARE))])
    for index, pair in enumerate(pairs):
        question = pair["question"]
        if index in refusals:
            other = pairs[(index + len(pairs) // 2) % len(pairs)]
            hits = [h for h in kb.search(other["question"], passages + 2)
                    if not Path(h.source).as_posix().endswith("/" + pair["doc"])][:passages]
            reply, kind = REFUSAL, "unanswerable"
        else:
            hits = kb.search(question, passages)
            position = next((i for i, h in enumerate(hits) if _holds(h, pair["doc"], pair["support"])), None)
            if position is None:
                gold = [h for h in kb.search(pair["support"], 5) if _holds(h, pair["doc"], pair["support"])]
                if not gold:
                    continue  # the support is not one passage (it spans a chunk boundary): skip it
                hits = hits[: passages - 1] + gold[:1]
                position = len(hits) - 1
            reply, kind = cited_answer(pair[target], position + 1), "answerable"
        prompt = build_prompt(question, hits, generator.render, generator.count_tokens, prompt_tokens, template,
                              min_passage_tokens)
        if kind == "answerable" and position >= len(prompt.passages):
            continue  # the budget cut the supporting passage
        examples.append({"messages": prompt.messages, "target": reply, "kind": kind,
                         "origin": pair.get("kind", "hand-written"), "question": question, "doc": pair["doc"]})
    return examples


def write_examples(examples: list[dict], path: Path, sources: list[Path], target: str = "support",
                   feedback: dict | None = None) -> dict:
    """Write the examples as JSONL and their data card (DATA_CARD.json beside them); the card.
    `feedback` is the report of `rag tune-data --feedback` (rag.tuning.feedback), when the log was read."""
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples)
    path.write_text(text, encoding="utf-8")
    card = {"examples": len(examples), "answerable": sum(e["kind"] == "answerable" for e in examples),
            "unanswerable": sum(e["kind"] == "unanswerable" for e in examples),
            "origin": dict(Counter(e["origin"] for e in examples)), "target": target,
            "sha256": hashlib.sha256(text.encode()).hexdigest(), "sources": [str(s) for s in sources],
            "how_built": "rag tune-data: each question/answer pair (hand-written, or derived by rule from the "
                         "corpus' definitions, headings and figures with the passage's own sentence as the answer) "
                         "with the passages the retriever returns for it "
                         "(as many and as long as at answering time, distractors included; the supporting passage put "
                         f"in the last slot if missed), target = the pair's {TARGETS[target]} "
                         "with [n] after each sentence; "
                         f"{REFUSAL_SHARE:.0%} of questions paired with unrelated passages and the "
                         "refusal sentence. Built from corpora/homeowner only."}
    if feedback is not None:
        card["feedback"] = feedback
        card["how_built"] += (" Feedback examples (origin 'feedback: …'): thumbs-up answers as given, with the "
                              "passages they were shown; corrections grounded on a passage that supports them "
                              "(unsupported ones left out and listed); thumbs-down answers excluded; a fixed share "
                              "held out for the adapter gate; evaluation questions refused.")
    (path.parent / "DATA_CARD.json").write_text(json.dumps(card, indent=2) + "\n")
    return card
