from rag.cleaning import drop_running_lines, join_wrapped_lines, normalize


def test_normalize_unicode_and_spaces():
    assert normalize("ﬁnal\u00a0\u00a0cost\u200b  here\r\n\r\n\r\n\r\nnext") == "final cost here\n\nnext"


def test_normalize_drops_leaders_and_replacement_glyphs():
    assert normalize("Promissory Note \ufffd\ufffd\ufffd\ufffd 1\nSign here ________") == "Promissory Note 1\nSign here"


def test_normalize_reads_symbol_font_text_as_ascii():
    # What pypdf returns for a page set in a symbol-encoded font: ASCII shifted to U+F0xx.
    shifted = "".join(chr(0xF000 + ord(c)) for c in "An escrow (ESCROW) statement.")
    assert normalize(shifted + " \uf05f\uf05f\uf05f\uf05f Date") == "An escrow (ESCROW) statement. Date"
    assert normalize("\uf0b7 bullet") == "\uf0b7 bullet"  # bullet glyphs stay for the line joiner
    assert normalize("\ue107 Top mistakes: $\ue108") == "Top mistakes: $"  # a font's own icons carry no text


def test_join_wrapped_lines_rejoins_hyphenated_words_and_paragraphs():
    text = ("The servicer must send the state-\nment within thirty days of the end\nof the year.\n"
            "Next Paragraph starts here.")
    assert join_wrapped_lines(text) == (
        "The servicer must send the statement within thirty days of the end of the year.\nNext Paragraph starts here."
    )


def test_join_wrapped_lines_keeps_bullets_apart():
    text = "Bring these items:\n• photo ID\n§ a cashier's check for the\nclosing costs"
    assert join_wrapped_lines(text) == "Bring these items:\n- photo ID\n- a cashier's check for the closing costs"
    # a "¨" checkbox, which NFKC turns into a bare combining diaeresis
    assert join_wrapped_lines(normalize("Name:\n ¨ Settlement agent\n ¨ Closing attorney")) == \
        "Name:\n- Settlement agent\n- Closing attorney"


def test_running_heads_and_feet_are_dropped_but_repeated_body_lines_stay():
    words = "taxes escrow title deed lien survey points rate fees loan note lender".split()

    def page(n, letter):
        body = [f"Section {letter} {verb} {word}." for verb in ("explains", "lists") for word in words]
        return "\n".join([f"{n} of 4", "Consumer Bureau", *body[:12], "Total", *body[12:], f"Learn more, page {n}"])

    pages = [page(n, letter) for n, letter in zip(range(1, 5), "ABCD")]
    pages[3] = pages[3].replace("Consumer Bureau\n", "")  # on three of four pages is still most
    kept = drop_running_lines(pages)
    assert all("of 4" not in page and "Consumer Bureau" not in page and "Learn more" not in page for page in kept)
    assert all("Total" in page and "lists lender." in page for page in kept)  # mid-page, not a running line
    assert drop_running_lines(pages[:2]) == pages[:2]  # two pages are too few to tell layout from text


def test_zalgo_runs_of_combining_marks_are_cut():
    from rag.cleaning import MAX_COMBINING_MARKS

    text = normalize("a" + "\u0316" * 100_000 + " b")
    assert text == "a" + "\u0316" * MAX_COMBINING_MARKS + " b"
    assert normalize("Cafe\u0301 Vie\u0323\u0302t") == "Café Việt"  # ordinary marks compose as before


def test_display_path_escapes_bytes_that_are_not_text():
    import os

    from rag.cleaning import display_path

    assert display_path(os.fsdecode(b"/tmp/bad-\xff.md")) == "/tmp/bad-\\xff.md"
    assert display_path("/tmp/café.md") == "/tmp/café.md"
