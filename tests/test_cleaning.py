from rag.cleaning import join_wrapped_lines, normalize


def test_normalize_unicode_and_spaces():
    assert normalize("ﬁnal\u00a0\u00a0cost\u200b  here\r\n\r\n\r\n\r\nnext") == "final cost here\n\nnext"


def test_normalize_drops_leaders_and_replacement_glyphs():
    assert normalize("Promissory Note \ufffd\ufffd\ufffd\ufffd 1\nSign here ________") == "Promissory Note 1\nSign here"


def test_join_wrapped_lines_rejoins_hyphenated_words_and_paragraphs():
    text = "The servicer must send the state-\nment within thirty days of the end\nof the year.\nNext Paragraph starts here."
    assert join_wrapped_lines(text) == (
        "The servicer must send the statement within thirty days of the end of the year.\nNext Paragraph starts here."
    )


def test_join_wrapped_lines_keeps_bullets_apart():
    text = "Bring these items:\n• photo ID\n§ a cashier's check for the\nclosing costs"
    assert join_wrapped_lines(text) == "Bring these items:\n- photo ID\n- a cashier's check for the closing costs"
