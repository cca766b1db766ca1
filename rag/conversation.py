"""Follow-up questions in a chat are rewritten to stand alone before retrieval.

"What about for FHA loans?" after "How much is the down payment on a conventional
loan?" retrieves nothing useful by itself. A small model rewrites unreliably, so
the rule is plain and predictable: a question that leans on the conversation
(short, or opening with a connective, or built on a pronoun) is joined to the
previous user question.
"""
from __future__ import annotations

import re
from typing import Sequence

_LEANING = re.compile(
    r"^(what about|how about|and|also|but|then|so|same|what if|why not|in that case|for|with)\b"
    r"|\b(it|its|that|this|those|these|they|them|their|there|one|ones)\b", re.I)
_SHORT_WORDS = 5


def is_follow_up(question: str) -> bool:
    words = question.split()
    return len(words) <= _SHORT_WORDS or bool(_LEANING.search(question))


def standalone_question(question: str, history: Sequence[dict] | None) -> str:
    """The question to retrieve with: joined to the previous user turn when it is a follow-up."""
    previous = [m["content"] for m in (history or []) if m.get("role") == "user" and m.get("content", "").strip()]
    if not previous or not is_follow_up(question):
        return question.strip()
    return f"{previous[-1].strip()} {question.strip()}"
