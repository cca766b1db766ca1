"""Each answering stage on its own: gate, choose, compose, quote (no model loaded)."""
import dataclasses

from rag.answering.choose import choose
from rag.answering.compose import Sentence, compose, model_sentences, verified, without_attribution
from rag.answering.gate import Gate
from rag.answering.quote import quoted, quotes_to_show
from rag.highlighting import Highlight
from rag.policy import AnsweringPolicy

from .conftest import evidence, hit

POLICY = AnsweringPolicy()
PASSAGES = [hit("Closing costs run 2% to 5% of the loan amount. They are listed on the Closing Disclosure.",
                "closing.md", 1, title="Closing costs", section="Closing costs"),
            hit("Private mortgage insurance ends automatically when the balance reaches 78 percent of the "
                "original value.", "pmi.md", 2, title="PMI", section="PMI")]
HISTORY = [{"role": "user", "content": "How much are closing costs on a home loan?"}]


def gate(threshold=0.0, search=lambda query, k: PASSAGES[:k], k=2, candidates=2):
    return Gate(search, evidence(threshold), k, candidates, POLICY)


# gate

def test_the_gate_passes_a_question_the_passages_can_answer():
    retrieved = gate()("How much are closing costs?")
    assert retrieved.passed and retrieved.query == "How much are closing costs?"
    assert [h.source for h in retrieved.hits] == ["closing.md", "pmi.md"] and 0 <= retrieved.evidence <= 1


def test_the_gate_refuses_without_passages_with_weak_evidence_or_an_unmatched_name():
    assert gate(search=lambda query, k: [])("How much are closing costs?").refusal == "no passages found"
    assert gate(threshold=1.0)("How much are closing costs?").refusal.startswith("evidence ")
    assert gate()("How much are closing costs in Travis County?").refusal == "no passage names Travis, County"


def test_the_gate_reads_a_follow_up_with_the_previous_question_and_searches_the_candidates():
    searched = []

    def search(query, k):
        searched.append((query, k))
        return PASSAGES[:k]

    retrieved = gate(search=search, k=1, candidates=2)("What about FHA loans?", HISTORY)
    # one search, as wide as the candidates or the refusal estimate's pool, whichever is wider
    assert searched == [("How much are closing costs on a home loan? What about FHA loans?", POLICY.evidence_pool)]
    assert len(retrieved.candidates) == 2 and len(retrieved.hits) == 1


# choose

def test_choose_keeps_retrieval_order_without_a_reranker_and_reorders_with_one():
    assert choose("q", PASSAGES, 1, None, 0.1) == PASSAGES[:1]
    assert choose("q", PASSAGES, 1, lambda contexts, q: [-5.0, 0.0], 0.1) == PASSAGES[1:]


# compose

def test_model_sentences_drop_a_fragment_cut_off_by_the_token_bound():
    tokens = ["Closing costs run 2% ", "to 5% [1", "]. PMI ends at", " 78"]
    assert list(model_sentences(tokens, 2)) == ["Closing costs run 2% to 5% [1]."]
    assert list(model_sentences(["It ends. [3] Then [1]."], 2)) == ["It ends.", "Then [1]."]  # [3] names no passage


def test_compose_keeps_checked_sentences_with_supported_citations_only():
    sentences = ["Closing costs run 2% to 5% of the loan amount [2].",  # cited the wrong passage: moved to 1
                 "Closing costs run 9% of the price [1].",  # a figure no passage holds
                 "PMI ends at 78 percent of the original value [2].",  # passage 2 holds no key evidence here
                 "They are listed on the Closing Disclosure [1]."]
    assert list(compose(sentences, "How much are closing costs?", PASSAGES, {1}, POLICY)) == [
        Sentence("Closing costs run 2% to 5% of the loan amount. [1]", (1,)),  # a rewritten marker goes last
        Sentence("They are listed on the Closing Disclosure [1].", (1,))]


def test_compose_stops_at_a_decline():
    sentences = ["Closing costs run 2% to 5% of the loan amount [1].", "The passages do not say more.",
                 "They are listed on the Closing Disclosure [1]."]
    assert [s.text for s in compose(sentences, "How much are closing costs?", PASSAGES, {1}, POLICY)] == [
        "Closing costs run 2% to 5% of the loan amount [1]."]


def test_the_support_threshold_comes_from_the_policy():
    sentence = "Closing costs run 2% to 5% of the whole purchase."  # "whole" and "purchase" are new, 2 of 4
    question = "How much are closing costs?"
    assert not verified(sentence, question, PASSAGES)
    assert verified(sentence, question, PASSAGES, dataclasses.replace(POLICY, sentence_support=0.5))


def test_a_lead_in_about_the_documents_is_removed():
    assert without_attribution("According to the documents [1], escrow pays taxes.") == "Escrow pays taxes."
    assert without_attribution("The passage says that PMI ends.") == "PMI ends."
    assert without_attribution("Escrow pays taxes.") == "Escrow pays taxes."


# quote

KEY = [Highlight(1, "Closing costs run 2% to 5% of the loan amount.", 0.9),
       Highlight(2, "Private mortgage insurance ends automatically at 78 percent.", 0.7, answers_part=True),
       Highlight(1, "They are listed on the Closing Disclosure.", 0.6)]


def test_quotes_stay_with_the_cited_passages_unless_they_answer_another_part():
    assert quotes_to_show(KEY, [], "", POLICY) == KEY  # the model said nothing: every key sentence
    assert quotes_to_show(KEY, [1], "Closing costs run 2% to 5% of the loan amount [1].", POLICY) == KEY[1:]
    assert quotes_to_show(KEY[:1] + KEY[2:], [2], "PMI ends.", POLICY) == []


def test_quotes_are_led_in_by_what_came_before():
    assert quoted(KEY[:1], after_model=False, policy=POLICY) == \
        "The documents say: “Closing costs run 2% to 5% of the loan amount.” [1]"
    assert quoted(KEY[:2], after_model=True, policy=POLICY) == (
        "\n\nIn the documents' words: “Closing costs run 2% to 5% of the loan amount.” [1] "
        "“Private mortgage insurance ends automatically at 78 percent.” [2]")
    assert quoted(KEY[:1], False, dataclasses.replace(POLICY, quotes_lead="Quoted: ")).startswith("Quoted: “")
