"""The shared sentence rule and overlap measure (rag/text.py)."""
import re

from rag.text import (CLAUSE_BREAK, LOOSE_BREAK, content_words, is_finished, mostly_in, share_found, split_finished,
                      split_sentences)


def test_sentences_end_at_a_full_stop_before_what_opens_a_sentence():
    text = 'Rates rose 2.5% in 2023. “Shop around,” it says. (See page 4.) Costs vary, e.g. by state. $500 is typical.'
    assert split_sentences(text) == ['Rates rose 2.5% in 2023.', '“Shop around,” it says.', '(See page 4.',
                                     'Costs vary, e.g. by state.', '$500 is typical.']


def test_lines_are_cut_too_when_asked():
    assert split_sentences("Title line\n- first item\nLast. Next one") == ["Title line\n- first item\nLast.",
                                                                          "Next one"]
    assert split_sentences("Title line\n- first item", lines=True) == ["Title line", "- first item"]


def test_the_loose_reading_cuts_after_any_full_stop():
    assert split_sentences("Costs vary, e.g. by state.", boundary=LOOSE_BREAK) == ["Costs vary, e.g.", "by state."]


def test_the_clause_reading_also_cuts_at_semicolons_and_colons():
    text = "Two kinds: Fixed rates stay; Adjustable ones move. [1] Done"
    assert [text[m.end():][:5] for m in CLAUSE_BREAK.finditer(text)] == ["Fixed", "Adjus", "[1] D"]
    assert not CLAUSE_BREAK.search("two kinds: fixed")  # a lower-case word does not open a clause


def test_a_streamed_reply_keeps_markers_with_their_sentence_and_waits_for_a_marker():
    finished, rest = split_finished("Costs run 2% to 5%. [1] PMI ends at 78 percent. [2][1] It can")
    assert finished == ["Costs run 2% to 5%. [1]", "PMI ends at 78 percent. [2][1]"] and rest == "It can"
    finished, rest = split_finished("Costs run 2% to 5%. [")  # the marker may still be arriving
    assert finished == [] and rest == "Costs run 2% to 5%. ["
    assert is_finished("It can be cancelled at 80 percent [2].") and is_finished("Done. [1]")
    assert not is_finished("It can be cancelled at 80")


def test_content_words_drop_stop_words_and_fold_plurals():
    assert content_words("The lenders' policies and the borrower's rates") == {"lender", "policy", "borrower", "rate"}
    assert content_words("It is what it is") == set()


def test_share_found_is_the_share_of_the_first_words_in_the_second():
    assert share_found({"escrow", "cushion"}, {"escrow", "tax"}) == 0.5
    assert share_found(set(), {"escrow"}) == 0.0 and share_found(set(), {"escrow"}, if_empty=1.0) == 1.0


def test_mostly_in_is_a_repeat_above_a_share():
    assert mostly_in("Escrow pays property taxes.", "Your escrow account pays property taxes and insurance.", 0.8)
    assert mostly_in("Escrow pays property taxes and fees.", "Escrow pays property taxes.", 0.8)  # 4 of 5
    assert not mostly_in("Escrow pays property taxes, fees and dues.", "Escrow pays property taxes.", 0.8)
    assert not mostly_in("It is.", "It is.", 0.8)  # no content words: nothing repeated


def test_one_sentence_splitter_in_the_package():
    # Every sentence cut in rag/ goes through rag/text.py (chunking switches to CLAUSE_BREAK too).
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "rag"
    own = {"text.py", "cleaning.py"}  # cleaning asks whether a line ends a sentence, it cuts nothing
    pattern = re.compile(r"\(\?<=\[\.!\?")
    offenders = [p.relative_to(package).as_posix() for p in package.rglob("*.py")
                 if p.name not in own and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
