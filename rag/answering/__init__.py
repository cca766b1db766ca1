"""Answer a question: gate → choose → compose → quote → an immutable `Answer`.

The generator is small, so the pipeline guards it on both sides. Before
generating, the gate (`gate.py`) refuses questions the passages cannot answer — a
calibrated evidence estimate, and a name in the question that no passage
contains; the generator's own reading of a wider set of retrieved passages then
chooses and orders the ones it is shown (`choose.py`). While generating, each
finished sentence is checked against the passages (`compose.py`) — its numbers
must appear there, its words must mostly come from there, and it must say more
than the question and the passages' labels did — and only checked sentences are
passed on. The answer shows the passages' own key sentences, quoted and cited
(`quote.py`), so every answer shows the words it rests on: the best of them leads,
streamed as soon as retrieval has found it (its passage is then shown to the model
first, so its citation holds), and the others close the answer. Reranking and
generation take most of an answer's time; the lead puts words on screen before
either begins. Every threshold and pattern is a field of `rag.policy.AnsweringPolicy`.
"""
from .answerer import Answerer
from .compose import verified, without_attribution

__all__ = ["Answerer", "verified", "without_attribution"]
