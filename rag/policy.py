"""The answering policy: every threshold, weight and pattern the answering stages use, in one place.

Each number was measured on the project's question files (README, bench/); the help text
says what it does. The policy is the `[answering]` section of `Settings`, so a TOML file
or the environment (``RAG_ANSWERING__QUOTE_LIMIT=2``) can change any of it; `Settings`
checks the bounds in `metadata` and the relations between fields.

The English-specific parts are the last group of fields (declines, attributions, the
name rule, follow-up connectives, quantity and question words, the quote lead-ins);
answering another language means changing those, the stop words and plural folding in
`rag.text`, and the prompt templates in `GenerationSettings`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache


def _number(default: float, help: str, low: float | None = 0.0, high: float | None = None):
    return field(default=default, metadata={"help": help, "low": low, "high": high})


def _share(default: float, help: str):
    return _number(default, help, 0.0, 1.0)


def _pattern(default: str, help: str):
    return field(default=default, metadata={"help": help, "pattern": True})


@dataclass(frozen=True)
class AnsweringPolicy:
    # gate: the question to retrieve with, and when not to answer at all
    follow_up_max_words: int = _number(
        5, "a chat question this short leans on the conversation and is joined to the previous one")
    evidence_pool: int = _number(
        12, "the refusal estimate reads the passages closest in meaning among retrieval's first this many (so how "
        "retrieval orders them does not move its calibration); tune splits: 8, 12 and 20 refused the same", low=1)
    # choose
    rerank_rank_prior: float = _number(
        0.1, "reranking: log-probability credited per retrieval rank, so near ties keep the retrieval order")
    # compose: the prompt, and which of the model's sentences pass
    min_passage_tokens: int = _number(
        48, "a passage the prompt budget would cut below this many tokens is left out instead", low=1)
    sentence_support: float = _share(
        0.75, "share of a model sentence's new content words that must come from the passages")
    citation_support: float = _share(
        0.5, "share of a sentence's content words a passage must hold to be cited for it")
    repeat_share: float = _share(
        0.8, "share of a text's content words found in another above which it counts as a repeat")
    # lead: the passages' best sentence, shown first, before the passages are reranked and the model writes
    lead_passages: int = _number(
        2, "the lead sentence is chosen from this many of retrieval's top passages; each one more is more "
        "sentences to embed before the first words of an answer appear", low=1)
    after_lead: str = field(default="\n\n",
                            metadata={"help": "separates the lead quote from the model's checked sentences"})
    # quote: the passages' own key sentences that close the answer
    quote_limit: int = _number(3, "key sentences quoted from the passages at most (each question part may add one)")
    quote_min_words: int = _number(
        4, "shorter sentences are never quoted, and a shorter piece of a question is no question part of its own")
    quote_max_list_words: int = _number(
        80, "list items are joined to the line that introduces them up to this many words")
    quote_min_statement_words: int = _number(
        8, "a heading written as a sentence of at least this many words is quoted like the passage's text")
    quote_lexical_weight: float = _number(
        0.3, "weight of the share of the question's content words a sentence holds, beside its cosine")
    quote_rank_penalty: float = _number(
        0.15, "score taken off per passage rank (reranked: the top passage usually holds the answer)")
    quote_same_passage_bonus: float = _number(
        0.2, "preference for further quotes from the best sentence's own passage (fewer, surer citations)")
    quote_whole_question_weight: float = _number(
        0.3, "a question part's best sentence is judged with the whole question too, at this weight")
    quote_max_gap: float = _number(0.15, "how far below the best sentence a further quote may score")
    use_selector: bool = field(default=False, metadata={
        "help": "score sentences with the learned selector (rag tune-selector) instead of the hand-weighted "
                "cosine + overlap score; the quote_* weights above are then unused, the selector_* ones apply"})
    selector: str = field(default="", metadata={
        "help": "a selector file written by 'rag tune-selector'; empty means the bundled one"})
    selector_max_gap: float = _share(
        0.3, "with the selector: how far below the best sentence's probability a further quote may score")
    selector_same_passage_bonus: float = _share(
        0.1, "with the selector: preference for further quotes from the best sentence's own passage")
    quote_quantity_bonus: float = _number(
        0.1, "bonus for a sentence with a figure when the question asks how much, how long, what share")
    # English
    declines: str = _pattern(
        r"(?i)(?:documents?|passages?|text|context) (?:do not|don['’]t|does not|doesn['’]t) (?:say|contain|mention"
        r"|provide|include|answer)|not (?:mentioned|provided|specified|stated|included) in|no information"
        r"|cannot answer|can['’]t answer|(?:do not|don['’]t) know",
        "a model sentence saying the passages do not answer; past the evidence gate it ends the model's part")
    attribution: str = _pattern(
        r"(?i)^(?:according to (?:the )?(?:documents?|passages?|text)(?:\s*\[\d+\])*,?"
        r"|(?:the )?(?:documents?|passages?|text) (?:says?|states?|explains?|notes?|mentions?)(?: that)?:?)\s+(?=\S)",
        "a lead-in about the passages (\"The documents say that\"), removed before a sentence is checked")
    name: str = _pattern(
        r"(?<![.?!:;\"“(]\s)(?<![.?!:;\"“(])(?<!^)(?<![-\w'’&])([A-Z][a-z]+)(?![\w-])",
        "a name in a question (a capitalised word inside a sentence, not an acronym or hyphenated): "
        "passages that never name it cannot answer it")
    not_names: tuple[str, ...] = field(default=tuple(
        "January February March April May June July August September October November December "
        "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()),
        metadata={"help": "capitalised words that are not names"})
    follow_up: str = _pattern(
        r"(?i)^(what about|how about|and|also|but|then|so|same|what if|why not|in that case|for|with)\b"
        r"|\b(it|its|that|this|those|these|they|them|their|there|one|ones)\b",
        "a chat question opening with a connective or built on a pronoun leans on the conversation")
    asks_quantity: str = _pattern(
        r"(?i)\b(how (much|many|long|soon|quickly|fast|high|low|large|big|old|often)|what (share|percent"
        r"|percentage|age|number|amount|rate)|when)\b",
        "a question answered by a figure")
    question_parts: str = _pattern(
        r"(?i)\?\s+(?=\S)|,\s+and\s+(?=(?:what|when|where|which|who|why|how|is|are|can|do|does|must|should"
        r"|will)\b)",
        "where a question asks another: after a \"?\", or at \", and\" before a question word")
    quotes_lead: str = field(default="The documents say: ",
                             metadata={"help": "opens the quotes when the model's sentences all failed the checks"})
    quotes_after: str = field(default="\n\nIn the documents' words: ",
                              metadata={"help": "opens the quotes after the model's checked sentences"})

    def regex(self, name: str) -> re.Pattern:
        """The compiled form of a pattern field."""
        return _compiled(getattr(self, name))


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)
