"""Quote: the passages' own key sentences, cited, so every answer shows the words it rests on.

The best one leads the answer (shown before the model writes); the others close it."""
from __future__ import annotations

from typing import Sequence

from ..highlighting import Highlight
from ..policy import AnsweringPolicy
from ..text import mostly_in


def quotes_to_show(key: Sequence[Highlight], cited: Sequence[int], said: str,
                   policy: AnsweringPolicy) -> list[Highlight]:
    """The key sentences worth quoting after what the model `said`, citing `cited`.
    The model read every passage whole: once its checked sentences rest on some key passages,
    quotes from the others are only the sentence scorer's weaker guesses — unless they answer
    another part of the question than the one the model took up. Nothing the model said is repeated."""
    return [q for q in key if (not cited or q.n in cited or q.answers_part)
            and not mostly_in(q.text, said, policy.repeat_share)]


def quoted(quotes: Sequence[Highlight], after_model: bool, policy: AnsweringPolicy) -> str:
    """The quotes as the answer shows them, led in by what comes before."""
    return "".join(quote_pieces(quotes, policy.quotes_after if after_model else policy.quotes_lead))


def quote_pieces(quotes: Sequence[Highlight], lead_in: str) -> list[str]:
    """One piece per quote, as a stream shows them: the first after `lead_in`, each later one after a space."""
    return [(lead_in if i == 0 else " ") + f"“{q.text}” [{q.n}]" for i, q in enumerate(quotes)]
