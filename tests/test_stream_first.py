"""A streamed answer shows its first sentence before reranking and generation: the lead quote, cited, then
the model's checked sentences, then the other quotes; the pieces join to the answer and nothing is withdrawn.

The generator replays a fixed reply and may block until released, so "before generation" is observed,
not inferred from timings."""
import queue
import threading

import pytest

from cli.output import stream_answer
from rag.answering import Answerer
from rag.policy import AnsweringPolicy
from rag.prompting import REFUSAL
from rag.types import Answer

from .conftest import FakeEmbedder, ReplayGenerator, evidence, hit

POLICY = AnsweringPolicy()
PASSAGES = [
    hit("Private mortgage insurance ends automatically when the balance reaches 78 percent of the original "
        "value. You can ask to cancel it at 80 percent.", "pmi.md", 1, title="PMI", section="PMI"),
    hit("Closing costs run 2% to 5% of the loan amount. They are listed on the Closing Disclosure.",
        "closing.md", 2, title="Closing costs", section="Closing costs"),
    hit("A lender may require mortgage insurance on FHA loans for the life of the loan when less than 10 "
        "percent is put down.", "fha.md", 3, title="FHA loans", section="Mortgage insurance"),
]
QUESTION = "When does private mortgage insurance end?"
LEAD = ("The documents say: “Private mortgage insurance ends automatically when the balance reaches 78 percent "
        "of the original value.” [1]")
WAIT = 60  # seconds a step may take on a loaded machine before the test calls it stuck


class BlockingGenerator(ReplayGenerator):
    """Reranks and generates only once released; records when each began."""

    def __init__(self, reply, preferred: str = ""):
        super().__init__(reply)
        self.released = threading.Event()
        self.began: list[str] = []
        self.preferred = preferred

    def likelihoods(self, contexts, continuation):
        self.began.append("rerank")
        assert self.released.wait(WAIT), "never released"
        return [0.0 if self.preferred and self.preferred in c else -5.0 for c in contexts]

    def stream(self, messages, max_new_tokens=None):
        self.began.append("generation")
        assert self.released.wait(WAIT), "never released"
        yield from super().stream(messages, max_new_tokens)


def answerer(generator, threshold=0.0, k=2, candidates=3, search=None):
    search = search or (lambda query, n: PASSAGES[:n])
    return Answerer(search, FakeEmbedder().embed, generator, evidence(threshold), k=k, context_tokens=2048,
                    max_new_tokens=100, candidates=candidates)


def in_a_thread(events):
    """The stream's items as a queue, filled by another thread (as the server's AnswerRun does)."""
    items: queue.Queue = queue.Queue()

    def run():
        try:
            for item in events:
                items.put(item)
        except BaseException as error:  # handed to the test, which fails with it
            items.put(error)
        items.put(None)

    threading.Thread(target=run, daemon=True).start()
    return items


def rest(items: queue.Queue) -> list:
    out = []
    while (item := items.get(timeout=WAIT)) is not None:
        if isinstance(item, BaseException):
            raise item
        out.append(item)
    return out


def test_the_first_piece_is_shown_before_reranking_and_generation_begin():
    generator = BlockingGenerator("You can ask to cancel it at 80 percent [1].")
    items = in_a_thread(answerer(generator).stream(QUESTION))
    first = items.get(timeout=WAIT)
    assert first == LEAD  # quoted and cited, while the model has not been asked anything
    assert not generator.released.is_set() and items.empty()
    generator.released.set()
    *pieces, answer = rest(items)
    assert generator.began == ["rerank", "generation"]
    assert isinstance(answer, Answer) and first + "".join(pieces) == answer.text
    assert answer.text.startswith(LEAD + "\n\nYou can ask to cancel it at 80 percent [1].")
    assert [c.n for c in answer.citations][0] == 1 and answer.citations[0].source == "pmi.md"


@pytest.mark.parametrize("reply", [
    "You can ask to cancel it at 80 percent [1].",  # passes: after the lead
    "Private mortgage insurance ends automatically at 78 percent of the original value [1].",  # the lead again
    "The documents don't say.",  # a decline: the quotes answer
    "Private mortgage insurance always ends after exactly 11 years [1].",  # fails the checks
    "",  # the model says nothing
])
def test_the_streamed_pieces_join_to_the_answer_asked_for_without_streaming(reply):
    events = list(answerer(ReplayGenerator(reply)).stream(QUESTION))
    *pieces, answer = events
    assert all(isinstance(p, str) and p for p in pieces) and isinstance(answer, Answer)
    assert "".join(pieces) == answer.text == answerer(ReplayGenerator(reply)).ask(QUESTION).text
    assert pieces[0] == LEAD and not answer.refused
    assert answer.text.count("78 percent") == 1  # what the lead said is not said again
    assert "11 years" not in answer.text
    assert all(f"[{c.n}]" in answer.text for c in answer.citations)


def test_a_model_sentence_that_passes_is_a_piece_of_its_own_between_the_lead_and_the_quotes():
    pieces = list(answerer(ReplayGenerator("You can ask to cancel it at 80 percent [1]. "
                                           "Closing costs run 2% to 5% of the loan amount [2].")).stream(QUESTION))[:-1]
    assert pieces[0] == LEAD
    assert pieces[1] == "\n\nYou can ask to cancel it at 80 percent [1]."
    assert len(pieces) >= 2


@pytest.mark.parametrize("threshold, search", [(1.0, None), (0.0, lambda query, n: [])])
def test_a_refusal_is_one_piece(threshold, search):
    generator = BlockingGenerator("Private mortgage insurance ends at 78 percent [1].")
    events = list(answerer(generator, threshold=threshold, search=search).stream(QUESTION))
    assert events[0] == REFUSAL and len(events) == 2 and events[1].refused and events[1].text == REFUSAL
    assert generator.began == []  # refused before the model was asked anything


def test_the_lead_passage_is_shown_first_and_the_reranker_chooses_the_others():
    generator = BlockingGenerator("", preferred="FHA loans")
    generator.released.set()
    answer = answerer(generator, k=2, candidates=3).ask(QUESTION)
    assert [h.source for h in answer.hits] == ["pmi.md", "fha.md"]  # pinned, then the reranker's choice
    assert answer.text.startswith(LEAD) and answer.citations[0].source == "pmi.md"


def test_the_lead_comes_from_the_top_passages_only():
    policy = AnsweringPolicy(lead_passages=1)
    search = lambda query, n: [PASSAGES[1], PASSAGES[0]][:n]  # noqa: E731 - the answer ranks second
    answer = Answerer(search, FakeEmbedder().embed, ReplayGenerator(""), evidence(0.0), k=2, context_tokens=2048,
                      max_new_tokens=100, policy=policy).ask("When does private mortgage insurance end?")
    assert answer.text.startswith("The documents say: “Closing costs") and answer.citations[0].source == "closing.md"


def test_without_a_sentence_to_quote_in_the_top_passages_the_model_leads():
    short = hit("PMI: 78 percent.", "short.md", 9, title="PMI", section="PMI")  # too short to quote
    reply = "You can ask to cancel it at 80 percent [2]."
    answer = Answerer(lambda query, n: [short, PASSAGES[0]][:n], FakeEmbedder().embed, ReplayGenerator(reply),
                      evidence(0.0), k=2, context_tokens=2048, max_new_tokens=100, reranking=False,
                      policy=AnsweringPolicy(lead_passages=1)).ask(QUESTION)
    assert answer.text.startswith(reply + POLICY.quotes_after + "“Private mortgage insurance ends automatically")


def test_no_lead_is_shown_from_a_passage_the_prompt_has_no_room_for():
    # room for the instruction and the question (66 words here) but not for a passage's 48 words at least
    generator = ReplayGenerator("You can ask to cancel it at 80 percent [1].")
    events = list(Answerer(lambda query, n: PASSAGES[:n], FakeEmbedder().embed, generator, evidence(0.0), k=2,
                           context_tokens=100 + 80, max_new_tokens=100).stream(QUESTION))
    assert events[0] == REFUSAL and len(events) == 2  # nothing to cite: refused, nothing shown first


def test_the_cli_prints_each_piece_as_it_comes(capsys):
    seen = []

    def events():
        yield "first. "
        seen.append(capsys.readouterr().out)  # printed before the next piece exists
        yield "second."
        yield Answer(question="q", text="first. second.", refused=False, citations=[], hits=[])

    answer = stream_answer(events())
    assert seen == ["first. "] and answer.text == "first. second."
    assert capsys.readouterr().out == "second.\n"
