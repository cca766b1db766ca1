"""How an answer is put together from the model's sentences, its declines and the key quotes.

The generator here replays a fixed reply, so each rule is tested on its own; the real model
answers in tests/test_answering.py. Embeddings are the real bundled model's.
"""
import pytest

from rag.answering import Answerer
from rag.evidence import EvidenceModel
from rag.prompting import REFUSAL
from rag.types import Hit

PASSAGES = [
    Hit(score=1.0, text="Closing costs run 2% to 5% of the loan amount. They are listed on the Closing Disclosure.",
        source="closing.md", title="Closing costs", section="Closing costs", page=None, chunk_id=1, doc_id="c",
        similarity=0.6),
    Hit(score=0.9, text="Private mortgage insurance ends automatically when the balance reaches 78 percent of the "
        "original value. You can ask to cancel it at 80 percent.", source="pmi.md", title="PMI", section="PMI",
        page=None, chunk_id=2, doc_id="p", similarity=0.6),
]


class ReplayGenerator:
    """Stands in for the language model: replies with fixed text, word by word."""

    source, adapter, context_window = "replay", "", 4096

    def __init__(self, reply: str):
        self.reply = reply

    def render(self, messages):
        return "\n".join(m["content"] for m in messages)

    def count_tokens(self, text):
        return len(text.split())

    def stream(self, messages, max_new_tokens=None):
        for word in self.reply.split(" "):
            yield word + " "

    def likelihoods(self, contexts, continuation):
        return [0.0] * len(contexts)  # no preference: the retrieval order stands


def answerer(reply, embedder, evidence):
    return Answerer(lambda query, k: list(PASSAGES), embedder.embed, ReplayGenerator(reply), evidence, k=2,
                    context_tokens=2048, max_new_tokens=100)


@pytest.mark.parametrize("reply", ["The documents don't say.", "The passages do not mention it. PMI lasts forever."])
def test_past_the_evidence_gate_a_decline_ends_the_models_part_and_the_passages_answer(embedder, reply):
    answer = answerer(reply, embedder, EvidenceModel(threshold=0.0)).ask("When does PMI end automatically?")
    assert not answer.refused and "forever" not in answer.text  # nothing after the decline is read
    assert "78 percent" in answer.text and [c.source for c in answer.citations] == ["pmi.md"]


def test_weak_evidence_is_refused_whatever_the_model_would_say(embedder):
    answer = answerer("PMI ends at 78 percent [2].", embedder, EvidenceModel(threshold=0.99)).ask("When does PMI end?")
    assert answer.refused and answer.text == REFUSAL and not answer.citations


def test_quotes_follow_the_passages_the_model_cited(embedder):
    reply = "PMI ends automatically at 78 percent of the original value [2]."
    answer = answerer(reply, embedder, EvidenceModel(threshold=0.0)).ask("When does PMI end automatically?")
    assert answer.text.startswith("PMI ends automatically at 78 percent of the original value [2].")
    assert {c.n for c in answer.citations} == {2}


def test_unsupported_model_sentences_are_dropped(embedder):
    reply = "PMI always ends after exactly 11 years [2]."
    answer = answerer(reply, embedder, EvidenceModel(threshold=0.0)).ask("When does PMI end automatically?")
    assert "11 years" not in answer.text and "78 percent" in answer.text


def test_sentences_keep_the_markers_written_after_their_full_stop(embedder):
    reply = "Closing costs run 2% to 5%. [1] PMI ends at 78 percent. [2][1] It can be cancelled at 80 percent [2]."
    sentences = list(answerer(reply, embedder, EvidenceModel(threshold=0.0))._sentences([], 2))
    assert sentences == ["Closing costs run 2% to 5%. [1]", "PMI ends at 78 percent. [2] [1]",
                         "It can be cancelled at 80 percent [2]."]


def test_a_lead_in_about_the_documents_does_not_sink_a_supported_sentence(embedder):
    reply = "The document says that private mortgage insurance ends automatically at 78 percent of the original value. [2]"
    answer = answerer(reply, embedder, EvidenceModel(threshold=0.0)).ask("When does PMI end automatically?")
    assert answer.text.startswith("Private mortgage insurance ends automatically at 78 percent of the original value. [2]")


def test_a_citation_marker_is_not_a_figure_to_check(embedder):
    # no "1" anywhere in the passages: the marker's number must not fail the figure check
    reply = "Closing costs are listed on the Closing Disclosure. [1]"
    answer = answerer(reply, embedder, EvidenceModel(threshold=0.0)).ask("Where are closing costs listed?")
    assert answer.text.startswith("Closing costs are listed on the Closing Disclosure. [1]")


def test_a_question_naming_what_no_passage_names_is_refused(embedder):
    answer = answerer("Closing costs run 2% to 5% of the loan amount. [1]", embedder, EvidenceModel(threshold=0.0)) \
        .ask("How much are closing costs in Travis County?")
    assert answer.refused and answer.text == REFUSAL


def test_the_reranker_chooses_the_shown_passages_from_more_than_are_shown(embedder):
    class PrefersPmi(ReplayGenerator):
        def likelihoods(self, contexts, continuation):
            return [0.0 if "78 percent" in c else -5.0 for c in contexts]

    searched = []

    def search(query, k):
        searched.append(k)
        return PASSAGES[:k]

    answerer_ = Answerer(search, embedder.embed, PrefersPmi("It ends at 78 percent of the original value [1]."),
                         EvidenceModel(threshold=0.0), k=1, context_tokens=2048, max_new_tokens=100, candidates=2)
    answer = answerer_.ask("When does mortgage insurance end?")
    assert searched == [2] and [h.source for h in answer.hits] == ["pmi.md"]
    assert [c.source for c in answer.citations] == ["pmi.md"]


def test_a_part_the_model_left_out_is_still_quoted_from_its_own_passage(embedder):
    reply = "Closing costs run 2% to 5% of the loan amount [1]."
    one_part = answerer(reply, embedder, EvidenceModel(threshold=0.0)).ask("How much are closing costs?")
    assert "78 percent" not in one_part.text  # the model cited passage 1; quotes stay there
    answer = answerer(reply, embedder, EvidenceModel(threshold=0.0)).ask(
        "How much are closing costs, and when does private mortgage insurance end?")
    assert answer.text.startswith(reply)
    assert "78 percent" in answer.text and [c.source for c in answer.citations] == ["closing.md", "pmi.md"]
