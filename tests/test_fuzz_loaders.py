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
