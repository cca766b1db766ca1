from rag.cleaning import join_wrapped_lines, normalize


def test_normalize_unicode_and_spaces():
    assert normalize("ﬁnal\u00a0\u00a0cost\u200b  here\r\n\r\n\r\n\r\nnext") == "final cost here\n\nnext"


def test_normalize_drops_leaders_and_replacement_glyphs():
    assert normalize("Promissory Note \ufffd\ufffd\ufffd\ufffd 1\nSign here ________") == "Promissory Note 1\nSign here"


def test_normalize_reads_symbol_font_text_as_ascii():
    # What pypdf returns for a page set in a symbol-encoded font: ASCII shifted to U+F0xx.
    shifted = "".join(chr(0xF000 + ord(c)) for c in "An escrow (ESCROW) statement.")
    assert normalize(shifted + " \uf05f\uf05f\uf05f\uf05f Date") == "An escrow (ESCROW) statement. Date"
    assert normalize("\uf0b7 bullet") == "\uf0b7 bullet"  # bullet glyphs stay for the line joiner


def test_join_wrapped_lines_rejoins_hyphenated_words_and_paragraphs():
    text = "The servicer must send the state-\nment within thirty days of the end\nof the year.\nNext Paragraph starts here."
    assert join_wrapped_lines(text) == (
        "The servicer must send the statement within thirty days of the end of the year.\nNext Paragraph starts here."
    )


def test_join_wrapped_lines_keeps_bullets_apart():
    text = "Bring these items:\n• photo ID\n§ a cashier's check for the\nclosing costs"
    assert join_wrapped_lines(text) == "Bring these items:\n- photo ID\n- a cashier's check for the closing costs"
