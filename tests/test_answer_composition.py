"""How an answer is put together from the model's sentences, its declines and the key quotes.

The generator replays a fixed reply, so each rule is tested on its own; the real model
answers in tests/test_answering.py. Embeddings are the fake bag-of-words ones, and the
real bundled model's in the slow run.
"""
import dataclasses

import pytest

from rag.answering import Answerer
from rag.prompting import REFUSAL
from rag.types import Answer

from .conftest import FakeEmbedder, ReplayGenerator, evidence, hit

PASSAGES = [
    hit("Closing costs run 2% to 5% of the loan amount. They are listed on the Closing Disclosure.",
        "closing.md", 1, title="Closing costs", section="Closing costs"),
    hit("Private mortgage insurance ends automatically when the balance reaches 78 percent of the "
        "original value. You can ask to cancel it at 80 percent.", "pmi.md", 2, title="PMI", section="PMI"),
]


@pytest.fixture(scope="module", params=["fake", pytest.param("real", marks=pytest.mark.slow)])
def embed(request):
    if request.param == "fake":
        return FakeEmbedder().embed
    from rag.embedding import Embedder

    return Embedder().embed


PMI_LEAD = ("The documents say: “Private mortgage insurance ends automatically when the balance reaches 78 percent "
            "of the original value.” [1]")


def answerer(reply, embed, threshold=0.0):
    return Answerer(lambda query, k: list(PASSAGES), embed, ReplayGenerator(reply), evidence(threshold), k=2,
                    context_tokens=2048, max_new_tokens=100)


@pytest.mark.parametrize("reply", ["The documents don't say.", "The passages do not mention it. PMI lasts forever."])
def test_past_the_evidence_gate_a_decline_ends_the_models_part_and_the_passages_answer(embed, reply):
    answer = answerer(reply, embed).ask("When does PMI end automatically?")
    assert not answer.refused and "forever" not in answer.text  # nothing after the decline is read
    assert answer.text.startswith(PMI_LEAD)  # the lead's passage is shown first, as passage 1
    assert [c.source for c in answer.citations] == ["pmi.md"]


def test_weak_evidence_is_refused_whatever_the_model_would_say(embed):
    events = list(answerer("PMI ends at 78 percent [2].", embed, threshold=1.0).stream("When does PMI end?"))
    assert events[0] == REFUSAL and len(events) == 2  # the refusal is one piece, then the Answer
    answer = events[-1]
    assert answer.refused and answer.text == REFUSAL and not answer.citations
    assert [h.source for h in answer.hits] == ["closing.md", "pmi.md"]  # the closest passages, shown to the user


def test_the_lead_quote_comes_first_and_the_quotes_follow_the_passages_the_model_cited(embed):
    reply = "You can ask to cancel it at 80 percent [1]."
    answer = answerer(reply, embed).ask("When does PMI end automatically?")
    assert answer.text.startswith(PMI_LEAD + "\n\n" + reply)
    assert {c.n for c in answer.citations} == {1}


def test_a_model_sentence_saying_what_the_lead_said_is_not_repeated(embed):
    reply = "PMI ends automatically at 78 percent of the original value [1]."
    answer = answerer(reply, embed).ask("When does PMI end automatically?")
    assert answer.text.startswith(PMI_LEAD) and answer.text.count("78 percent") == 1


def test_unsupported_model_sentences_are_dropped(embed):
    reply = "PMI always ends after exactly 11 years [2]."
    answer = answerer(reply, embed).ask("When does PMI end automatically?")
    assert "11 years" not in answer.text and "78 percent" in answer.text


def test_a_lead_in_about_the_documents_does_not_sink_a_supported_sentence(embed):
    said = "you can ask to cancel it at 80 percent. [1]"
    answer = answerer("The document says that " + said, embed).ask("When does PMI end automatically?")
    assert answer.text.startswith(PMI_LEAD + "\n\nY" + said[1:])


def test_a_citation_marker_is_not_a_figure_to_check(embed):
    # no "1" anywhere in the passages: the marker's number must not fail the figure check
    reply = "Closing costs are listed on the Closing Disclosure. [1]"
    answer = answerer(reply, embed).ask("Where are closing costs listed?")
    assert "\n\nClosing costs are listed on the Closing Disclosure. [1]" in answer.text


def test_a_question_naming_what_no_passage_names_is_refused(embed):
    answer = answerer("Closing costs run 2% to 5% of the loan amount. [1]", embed) \
        .ask("How much are closing costs in Travis County?")
    assert answer.refused and answer.text == REFUSAL


def test_the_reranker_chooses_the_shown_passages_from_more_than_are_shown(embed):
    class PrefersPmi(ReplayGenerator):
        def likelihoods(self, contexts, continuation):
            return [0.0 if "78 percent" in c else -5.0 for c in contexts]

    searched = []

    def search(query, k):
        searched.append(k)
        return PASSAGES[:k]

    answerer_ = Answerer(search, embed, PrefersPmi("It ends at 78 percent of the original value [1]."),
                         evidence(0.0), k=1, context_tokens=2048, max_new_tokens=100, candidates=2)
    answer = answerer_.ask("When does mortgage insurance end?")
    # one search, wide enough for the reranker's 2 candidates (and the refusal estimate's pool)
    assert len(searched) == 1 and searched[0] >= 2 and [h.source for h in answer.hits] == ["pmi.md"]
    assert [c.source for c in answer.citations] == ["pmi.md"]


def test_a_part_the_model_left_out_is_still_quoted_from_its_own_passage(embed):
    reply = "Closing costs run 2% to 5% of the loan amount [1]."
    one_part = answerer(reply, embed).ask("How much are closing costs?")
    assert "78 percent" not in one_part.text  # the model cited passage 1; quotes stay there
    answer = answerer(reply, embed).ask("How much are closing costs, and when does private mortgage insurance end?")
    assert "Closing costs run 2% to 5% of the loan amount" in answer.text and "78 percent" in answer.text
    assert {c.source for c in answer.citations} == {"closing.md", "pmi.md"}


def test_streamed_pieces_join_to_the_answer_and_the_answer_is_immutable(embed):
    events = list(answerer("PMI ends automatically at 78 percent of the original value [2].", embed)
                  .stream("When does PMI end automatically?"))
    *pieces, answer = events
    assert isinstance(answer, Answer) and "".join(pieces) == answer.text and len(pieces) >= 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        answer.text = "changed"
