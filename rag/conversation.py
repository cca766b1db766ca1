"""Follow-up questions in a chat are rewritten to stand alone before retrieval.

"What about for FHA loans?" after "How much is the down payment on a conventional
loan?" retrieves nothing useful by itself. A small model rewrites unreliably, so
the rule is plain and predictable: a question that leans on the conversation
(short, or opening with a connective, or built on a pronoun — `AnsweringPolicy`'s
`follow_up_max_words` and `follow_up`) is joined to the previous user question.
"""
from __future__ import annotations

from typing import Sequence

from .policy import AnsweringPolicy

_DEFAULT = AnsweringPolicy()


def is_follow_up(question: str, policy: AnsweringPolicy = _DEFAULT) -> bool:
    words = question.split()
    return len(words) <= policy.follow_up_max_words or bool(policy.regex("follow_up").search(question))


def standalone_question(question: str, history: Sequence[dict] | None, policy: AnsweringPolicy = _DEFAULT) -> str:
    """The question to retrieve with: joined to the previous user turn when it is a follow-up."""
    previous = [m["content"] for m in (history or []) if m.get("role") == "user" and m.get("content", "").strip()]
    if not previous or not is_follow_up(question, policy):
        return question.strip()
    return f"{previous[-1].strip()} {question.strip()}"
