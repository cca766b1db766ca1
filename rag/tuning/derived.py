"""Question/answer pairs derived by rule from the corpus: definitions, headings and figures.

They widen the hand-written set with plain reading practice: the answer is the
passage's own sentence, so the model learns to find the sentence that answers
and repeat it with its passage number — the behaviour that survives answer
checking on documents it has never seen.
- definition: "An escrow account is …" → "What is an escrow account?"
- heading: the first sentence under "Appraisal Waivers" → "What should I know about appraisal waivers?"
- figure: a section's first sentence with a percentage, dollar amount or time span →
  "What percentage is given for the 28/36 rule of thumb?"
"""
from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

from ..errors import LoaderError
from ..highlighting import sentences
from ..loaders import is_supported, load_document
from ..text import content_words
from ..types import Document

_DEFINITION = re.compile(r"^(An?|The) ([A-Za-z][\w'/-]*(?: [\w'/-]+){0,2}?) (is|are|means|refers to) "
                         r"(?:a|an|the|any|what|when|how)\b")
_QUESTION_WORDS = ("how", "what", "when", "why", "who", "which", "can", "should", "do", "does", "is", "are")
_FIGURES = (("percentage", re.compile(r"\d%|\bpercent\b")),
            ("dollar amount", re.compile(r"\$\d")),
            ("time frame", re.compile(r"\b\d+ (?:business |calendar )?(?:days?|weeks?|months?|years?)\b")))
_MIN_WORDS, _MAX_WORDS = 8, 60


def derived_pairs(root: Path, per_kind: int, seed: int = 0) -> list[dict]:
    """Pairs (question, answer, doc, support, kind) from the documents under `root`, at most
    `per_kind` of each kind (headings alone would outnumber the rest three to one)."""
    pairs: list[dict] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and is_supported(p)):
        try:
            document = load_document(path)
        except LoaderError as exc:
            raise LoaderError(f"{path}: {exc}") from None
        pairs += _pairs_of(document, path.relative_to(root).as_posix())
    random.Random(seed).shuffle(pairs)
    taken: Counter = Counter()
    kept = []
    for pair in pairs:
        if taken[pair["kind"]] < per_kind:
            taken[pair["kind"]] += 1
            kept.append(pair)
    return kept


def _pairs_of(document: Document, doc: str) -> list[dict]:
    pairs, used = [], set()

    def add(question: str, sentence: str, kind: str) -> None:
        if sentence not in used:
            used.add(sentence)
            pairs.append({"question": question, "answer": sentence, "doc": doc, "support": sentence, "kind": kind})

    for section in document.sections:
        context = " ".join((document.title, *section.headings))
        candidates = [s for s in sentences(section.text) if _MIN_WORDS <= len(s.split()) <= _MAX_WORDS
                      and s[-1] in ".!"]
        for sentence in candidates:
            match = _DEFINITION.match(sentence)
            # "The goal is …" defines nothing; "The margin is …" does, in a section about margins.
            if match and (match.group(1) != "The" or content_words(match.group(2)) <= content_words(context)):
                article, term, verb = match.groups()
                add(f"What {'are' if verb == 'are' else 'is'} {article.lower()} {term}?", sentence, "definition")
        if len(section.headings) < 2 or not candidates:
            continue  # the title section introduces the whole document; the heading pairs need a subsection
        heading = section.headings[-1].rstrip("?")
        topic = _topic(heading)
        asks = topic.split()[0] in _QUESTION_WORDS  # "How Contingencies Work" is already a question
        add(heading + "?" if asks else f"What should I know about {topic}?", candidates[0], "heading")
        for name, pattern in _FIGURES:
            figure = next((s for s in candidates if pattern.search(s)), None)
            if figure:
                add(f"What {name} is given for {topic}?", figure, "figure")
    return pairs


def _topic(heading: str) -> str:
    """The heading as a phrase inside a sentence: capitalised words lowered, acronyms kept."""
    return " ".join(w.lower() if w[:1].isupper() and not w[1:2].isupper() else w for w in heading.split())
