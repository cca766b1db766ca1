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


def test_measured_joining_keeps_form_rows_apart_and_joins_full_lines():
    from rag.cleaning import join_wrapped_lines

    page = "\n".join([
        "Before closing, your interest rate, points, and lender credits can",
        "change unless you lock the interest rate. All other estimated",
        "closing costs expire on 3/4/2013 at 5:00 p.m. EDT",
        "PRODUCT 5 Year Interest Only",
        "LOAN ID # 1234567",
        "Title – Owner’s Title Policy (optional) $1,436",
        "I. TOTAL OTHER COSTS (E + F + G + H) $2,940",
    ])
    assert join_wrapped_lines(page, measure=True).split("\n") == [
        "Before closing, your interest rate, points, and lender credits can change unless you lock the interest "
        "rate. All other estimated closing costs expire on 3/4/2013 at 5:00 p.m. EDT",
        "PRODUCT 5 Year Interest Only",  # a short line that ended on purpose: its next word would have fitted
        "LOAN ID # 1234567",
        "Title – Owner’s Title Policy (optional) $1,436",  # a table row ends in its figure
        "I. TOTAL OTHER COSTS (E + F + G + H) $2,940",
    ]
    # the old rule ran every row after the first long one into one line
    assert join_wrapped_lines(page).count("\n") < 3
    column = "The title of the person who\nconducts your closing varies\nby state.\nBy law, you must receive your\n" \
             "Closing Disclosure three\nbusiness days before closing."
    assert join_wrapped_lines(column, measure=True).split("\n") == [  # a narrow column is measured on its own lines
        "The title of the person who conducts your closing varies by state.",
        "By law, you must receive your Closing Disclosure three business days before closing."]


def test_short_field_values_stay_with_their_label():
    from rag.cleaning import join_wrapped_lines

    page = ("Change Frequency\nLimits on Interest Rate Changes\nFirst Change 2%\nSubsequent Changes 2%\n"
            "Amount can increase\n$533\na month")
    assert join_wrapped_lines(page, measure=True).split("\n") == [
        "Change Frequency",
        "Limits on Interest Rate Changes First Change 2% Subsequent Changes 2%",
        "Amount can increase $533 a month",
    ]


def test_a_page_counter_is_dropped_wherever_the_content_order_puts_it():
    rows = "\n".join(f"row {i}" for i in range(20))
    pages = ["Loan terms\nPAGE 1 OF 3 • LOAN ID # 123\nLoan amount $211,000\nRate 4%\n" + rows,
             "Costs\n2 of 3Learn more at example.gov\nFee $500", "Other\nPage 3 of 3\nSee 2 of 3 people."]
    kept = drop_running_lines(pages)
    assert "PAGE 1 OF 3" not in kept[0] and "Loan amount $211,000" in kept[0]
    assert "Learn more" not in kept[1] and kept[2] == "Other\nSee 2 of 3 people."  # another page's count stays
    assert drop_running_lines(["Intro\n1 of 2", "Body\n2 of 2"]) == ["Intro", "Body"]  # two pages count too
