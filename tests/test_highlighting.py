"""Key-sentence selection, with the fake bag-of-words embedder and (slow) the real bundled one."""
import dataclasses

import pytest

from rag.highlighting import highlight, sentences
from rag.policy import AnsweringPolicy
from rag.types import Hit

from .conftest import FakeEmbedder


@pytest.fixture(scope="module", params=["fake", pytest.param("real", marks=pytest.mark.slow)])
def embed(request):
    if request.param == "fake":
        return FakeEmbedder().embed
    from rag.embedding import Embedder

    return Embedder().embed


def passage(text, section="Private mortgage insurance", n=0):
    return Hit(score=1.0, text=text, source=f"doc{n}.md", title="PMI", section=section, page=None, chunk_id=n,
               doc_id=f"d{n}", similarity=0.5)


def test_list_items_join_the_line_that_introduces_them():
    found = sentences("You can cancel PMI when:\n- you reach 20 percent equity\n- your payments are current")
    assert found == ["You can cancel PMI when: you reach 20 percent equity; your payments are current"]


def test_the_answering_sentence_leads(embed):
    passages = [passage("Lenders set their own rules for credit. PMI ends automatically when the balance reaches "
                        "78 percent of the original value. Some lenders offer a lower rate for autopay.")]
    best = highlight("When does PMI end automatically?", passages, embed)[0]
    assert best.n == 1 and "78 percent of the original value" in best.text


def test_questions_and_repeats_are_never_quoted(embed):
    repeated = "PMI ends automatically when the balance reaches 78 percent of the original value."
    passages = [passage(f"When does PMI end automatically? {repeated}", n=1),
                passage(f"{repeated} Ask your servicer for the date.", n=2)]
    quotes = highlight("When does PMI end automatically?", passages, embed)
    texts = [q.text for q in quotes]
    assert not any(t.endswith("?") for t in texts)
    assert texts.count(repeated) == 1


def test_a_heading_written_as_a_sentence_is_quoted_like_the_text(embed):
    # Pages of sourced facts head each source with the claim it supports; the text is the reference.
    claim = "“Borrowers who shop around for title services could save as much as $500.”"
    sourced = passage("Smith, Jane (2012). A study of title charges in five markets. Urban Institute.",
                      section=f"Sources > Shop for title services > {claim}")
    short_heading = passage("Title insurance protects the lender against claims on the title.",
                            section="Sources > Title insurance is required.", n=1)
    quotes = highlight("How much could I save by shopping for title services?", [sourced, short_heading], embed)
    assert quotes[0].n == 1 and quotes[0].text == claim.strip("“”")
    assert all(q.text != "Title insurance is required." for q in quotes)  # four words: a heading, not a claim


def test_questions_asking_several_things_are_split_into_their_parts():
    from rag.highlighting import question_parts
    assert question_parts("When does PMI end, and how much does it cost each year?") == \
        ["When does PMI end", "how much does it cost each year"]
    assert question_parts("Who runs my closing? What is their title?") == ["Who runs my closing", "What is their title"]
    one = "What are closing costs and taxes?"  # one question about two things
    assert question_parts(one) == [one]


def test_each_part_of_a_question_gets_its_best_sentence(embed):
    passages = [passage("PMI ends automatically when the balance reaches 78 percent of the original value. "
                        "Lenders may also cancel it earlier at their discretion.", n=1),
                passage("Mortgage insurance premiums usually cost 0.5 to 1 percent of the loan amount a year.",
                        section="Cost of mortgage insurance", n=2)]
    quotes = highlight("When does PMI end automatically, and how much does it cost each year?", passages, embed)
    assert "78 percent" in quotes[0].text and quotes[0].answers_part  # the lead answers the first part
    assert any(q.n == 2 and q.answers_part and "0.5 to 1 percent" in q.text for q in quotes)
    assert not any(q.answers_part for q in highlight("When does PMI end automatically?", passages, embed))


def test_the_policy_sets_how_many_sentences_are_quoted(embed):
    text = ("PMI ends automatically when the balance reaches 78 percent of the original value. "
            "You can ask your servicer to cancel PMI at 80 percent of the original value. "
            "PMI payments stop once the loan is halfway through its term.")
    no_gap = dataclasses.replace(AnsweringPolicy(), quote_max_gap=10.0)  # every sentence scores close enough
    assert len(highlight("When does PMI end?", [passage(text)], embed, no_gap)) == 3
    assert len(highlight("When does PMI end?", [passage(text)], embed, dataclasses.replace(no_gap, quote_limit=1))) == 1
    tight = dataclasses.replace(AnsweringPolicy(), quote_max_gap=0.0)  # only the best sentence is close enough
    assert len(highlight("When does PMI end?", [passage(text)], embed, tight)) == 1


def test_short_sentences_and_unintroduced_items_follow_the_policy():
    text = "Call today. Lenders set their own rules for credit scores."
    assert sentences(text) == ["Lenders set their own rules for credit scores."]  # "Call today." has two words
    assert sentences(text, dataclasses.replace(AnsweringPolicy(), quote_min_words=2)) == \
        ["Call today.", "Lenders set their own rules for credit scores."]
