"""Query-likelihood reranking: the ordering rule, and the real generator's scores."""
import pytest

from rag.policy import AnsweringPolicy
from rag.reranking import rerank
from rag.types import Hit

RANK_PRIOR = AnsweringPolicy().rerank_rank_prior


def passage(text, n, title="Mortgage insurance"):
    return Hit(score=1.0, text=text, source=f"doc{n}.md", title=title, section=title, page=None, chunk_id=n,
               doc_id=f"d{n}", similarity=0.5)


HITS = [passage("Closing costs run 2% to 5% of the loan amount and are listed on the Closing Disclosure.", 1,
                "Closing costs"),
        passage("Private mortgage insurance ends automatically once the balance reaches 78 percent of the home's "
                "original value, if payments are current.", 2)]


def test_the_likeliest_passage_leads_and_rank_breaks_near_ties():
    assert rerank("q", HITS, lambda contexts, q: [-3.0, -1.0], RANK_PRIOR) == [HITS[1], HITS[0]]
    # a difference smaller than the rank prior keeps the retrieval order
    assert rerank("q", HITS, lambda contexts, q: [-1.0, -1.0 + RANK_PRIOR / 2], RANK_PRIOR) == HITS
    assert rerank("q", HITS, lambda contexts, q: [-1.0, -1.0 + RANK_PRIOR / 2], 0.0) == [HITS[1], HITS[0]]
    assert rerank("q", HITS[:1], lambda contexts, q: 1 / 0, RANK_PRIOR) == HITS[:1]  # nothing to reorder


@pytest.mark.slow
def test_the_real_generator_moves_the_answering_passage_up():
    from rag.generation import Generator

    generator = Generator()
    assert rerank("When does PMI end automatically?", HITS, generator.likelihoods, RANK_PRIOR)[0] is HITS[1]
    one, both = generator.likelihoods(["Passage: " + HITS[1].text], " When does PMI end?"), \
        generator.likelihoods(["Passage: " + HITS[0].text, "Passage: " + HITS[1].text], " When does PMI end?")
    assert abs(one[0] - both[1]) < 1e-3  # padding in a batch changes nothing
    # A passage that tokenises to thousands is cut to its last tokens, so what came before it cannot count.
    text = "Passage: " + HITS[1].text
    window = len(generator.tokenizer(" " + text, add_special_tokens=False)["input_ids"])
    first, second = (generator.likelihoods([filler * 4000 + text], " When does PMI end?", context_tokens=window)[0]
                     for filler in ("alpha ", "beta "))
    assert abs(first - second) < 1e-4
