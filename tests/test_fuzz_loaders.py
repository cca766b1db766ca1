"""Fuzzed inputs: a loader returns a Document or raises LoaderError, nothing else."""
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from rag.errors import LoaderError
from rag.loaders import load_document

from .conftest import REPO

SEED_PDF = sorted((REPO / "corpora" / "homeowner").rglob("*.pdf"))[0].read_bytes()
fuzz = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def load(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    try:
        document = load_document(path)
    except LoaderError as exc:
        assert str(exc)
        return
    assert document.sections and all(s.text.strip() for s in document.sections)


@fuzz
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".md", ".txt", ".html", ".pdf"]))
def test_random_bytes(tmp_path, data, suffix):
    load(tmp_path, "f" + suffix, data)


@fuzz
@given(text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=3000),
       suffix=st.sampled_from([".md", ".txt", ".html"]))
def test_random_text(tmp_path, text, suffix):
    load(tmp_path, "f" + suffix, text.encode("utf-8"))


@fuzz
@given(markup=st.lists(st.sampled_from(["<p>", "</p>", "<h2>", "</h2>", "{% set x = {\"term\": \"", "\"} %}",
                                         "{{ ", " }}", "<script>", "</script>", "Escrow pays taxes. ", "<li>",
                                         "{# ", " #}", "<table><tr><td>", "</td></tr></table>", "\"", "'"]),
                       max_size=60))
def test_template_soup(tmp_path, markup):
    load(tmp_path, "f.html", "".join(markup).encode())


@fuzz
@given(cut=st.integers(min_value=0, max_value=len(SEED_PDF)), flips=st.lists(st.integers(0, len(SEED_PDF) - 1),
                                                                              max_size=20))
def test_damaged_pdf(tmp_path, cut, flips):
    data = bytearray(SEED_PDF[:cut] if cut else SEED_PDF)
    for position in flips:
        if position < len(data):
            data[position] ^= 0xFF
    load(tmp_path, "f.pdf", bytes(data))


_LINE_PIECES = ["$1,436", "2%", "4/16/2013", "First Change", "•", "§", "¨", "-", "page 2 of 3", "3 of 3", "&", "(",
                ")", "$", " ", "a", "Loan", "closing.", "word-", "x" * 90, "", "\t", "?", "ﬁ"]


@fuzz
@given(pages=st.lists(st.lists(st.lists(st.sampled_from(_LINE_PIECES), max_size=8).map(" ".join), max_size=30)
                      .map("\n".join), max_size=6),
       measure=st.booleans())
def test_page_repair_keeps_every_letter_and_digit(pages, measure):
    """Joining lines and dropping running lines remove only spaces, breaks, hyphens, bullets and whole lines:
    no letter or digit of a kept line is lost, moved or invented."""
    from rag.cleaning import drop_running_lines, join_wrapped_lines, normalize
    from rag.loaders.pdf import tidy_figures

    cleaned = [normalize(page) for page in pages]
    kept = drop_running_lines(cleaned)
    assert len(kept) == len(cleaned)
    for before, after in zip(cleaned, kept):
        assert set(after.split("\n")) <= set(before.split("\n")) | {""}
        joined = tidy_figures(join_wrapped_lines(after, measure=measure))
        assert [c for c in joined if c.isalnum()] == [c for c in after if c.isalnum()]
        assert "\n\n\n" not in joined


@fuzz
@given(lines=st.lists(st.tuples(st.text(alphabet="Aab1$%. (", min_size=1, max_size=40),
                                st.sampled_from([6, 10, 10.5, 14, 30])), min_size=1, max_size=12),
       name=st.sampled_from(["scan0001.pdf", "loan_estimate_sample.pdf", "x.pdf"]))
def test_generated_pdfs_with_mixed_type_sizes_load(tmp_path, lines, name):
    from .test_loaders import write_pdf

    load(tmp_path, name, write_pdf(tmp_path / "src.pdf", [lines[: len(lines) // 2 + 1], lines[len(lines) // 2:]])
         .read_bytes())
