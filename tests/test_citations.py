from rag.citations import MarkerFilter, attribute, checked, citation, parse_markers
from rag.policy import AnsweringPolicy
from rag.types import Hit

SUPPORT = AnsweringPolicy().citation_support


def hit(text, source="a.md", n=0):
    return Hit(score=1.0, text=text, source=source, title="T", section="S", page=None, chunk_id=n, doc_id="d",
               similarity=0.5)


PASSAGES = [hit("Escrow pays property taxes and insurance.", "escrow.md", 1),
            hit("PMI ends automatically at 78 percent of the original value.", "pmi.md", 2)]


def test_valid_markers_kept_invalid_dropped():
    text, numbers = parse_markers("PMI ends at 78 percent [2][7]. Escrow pays taxes [1, 9].", 2)
    assert numbers == [2, 1]
    assert text == "PMI ends at 78 percent [2]. Escrow pays taxes [1]."


def test_ranges_and_lists():
    assert parse_markers("x [1-2] y [1 and 2]", 2)[1] == [1, 2]
    assert parse_markers("x [0] y [3]", 2) == ("x y", [])
    assert parse_markers("x [1-20]", 30) == ("x", [])  # too wide a range to be a citation


def test_uncited_answer_is_attributed_by_overlap():
    text, numbers = parse_markers("Private mortgage insurance ends automatically at 78 percent of the original value.",
                                  len(PASSAGES))
    citations = [citation(n, PASSAGES[n - 1]) for n in checked(text, numbers, PASSAGES, SUPPORT)]
    assert [c.n for c in citations] == [2] and citations[0].source == "pmi.md"
    assert citations[0].text == PASSAGES[1].text


def test_unrelated_text_gets_no_citation():
    assert attribute("The weather in Paris is lovely in spring.", PASSAGES, SUPPORT) == []


def test_marker_filter_streams_like_the_batch_parser():
    text = "Escrow pays taxes [1]. PMI ends [2][5]. Odd [12] end."
    for size in (1, 2, 3, 7):
        stream = MarkerFilter(2)
        out = "".join(stream.feed(text[i:i + size]) for i in range(0, len(text), size)) + stream.flush()
        assert out == parse_markers(text, 2)[0]


def test_a_citation_the_passage_does_not_support_is_replaced():
    sentence = "PMI ends automatically at 78 percent of the original value."
    assert checked(sentence, [1], PASSAGES, SUPPORT) == [2]  # the model said [1]; passage 2 holds it
    assert checked(sentence, [2], PASSAGES, SUPPORT) == [2]


def test_the_support_share_decides_what_a_passage_must_hold():
    sentence = "Escrow pays property taxes and the weather."  # 4 of 5 content words in passage 1
    assert checked(sentence, [1], PASSAGES, 0.8) == [1]
    assert checked(sentence, [1], PASSAGES, 0.9) == []
