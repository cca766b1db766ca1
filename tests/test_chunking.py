from rag.chunking import Chunker
from rag.types import Document, Section


def words(texts):
    return [len(t.split()) for t in texts]


def make_doc(*sections):
    return Document("mem://doc", "Doc title", "markdown", list(sections))


def test_chunks_respect_budget_and_offsets():
    long_text = " ".join(f"Sentence number {i} says something about escrow." for i in range(60))
    doc = make_doc(Section("Short intro.", ("Intro",)), Section(long_text, ("Body", "Details")))
    chunks = Chunker(words, max_tokens=40, overlap_tokens=10).chunk(doc, "d1")
    assert len(chunks) > 5
    for chunk in chunks:
        assert words([chunk.embed_text])[0] <= 40
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.embed_text.startswith("Doc title > ")
    assert chunks[1].section == "Body > Details"
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_neighbouring_chunks_overlap():
    text = " ".join(f"Fact {i} is here." for i in range(40))
    chunks = Chunker(words, max_tokens=30, overlap_tokens=8).chunk(make_doc(Section(text)), "d")
    for left, right in zip(chunks, chunks[1:]):
        assert right.start < left.end  # the next chunk repeats the tail of the previous one
        assert right.end > left.end  # and always moves forward


def test_overlong_sentence_and_word_are_cut():
    text = "word " * 500 + "x" * 3000
    chunker = Chunker(lambda ts: [max(1, len(t) // 4) for t in ts], max_tokens=50, overlap_tokens=0)
    chunks = chunker.chunk(make_doc(Section(text.strip())), "d")
    assert all(max(1, len(c.embed_text) // 4) <= 50 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")


def test_real_tokenizer_bound_on_every_bundled_document(embedder):
    from .conftest import REPO
    from rag.loaders import load_document

    chunker = Chunker(embedder.count_tokens, max_tokens=200, overlap_tokens=40)
    for path in sorted((REPO / "corpora" / "homeowner").rglob("*.*")):
        document = load_document(path)
        chunks = chunker.chunk(document, "d")
        assert chunks, path
        counts = embedder.count_tokens([c.embed_text for c in chunks])
        assert max(counts) <= 200 <= embedder.max_tokens, path


def test_a_huge_single_line_is_counted_in_bounded_calls():
    """A 50 MB line once went to the tokenizer whole (11.7 GB); no call may see more than a window."""
    from rag.chunking import _COUNT_BATCH_CHARS

    largest = []

    def counting(texts):
        largest.append(sum(len(t) for t in texts))
        return [len(t.split()) for t in texts]

    text = "escrow account balance pays taxes " * 200_000  # 6.8 MB, one sentence
    chunks = Chunker(counting, max_tokens=200, overlap_tokens=40).chunk(make_doc(Section(text.strip())), "d")
    assert max(largest) <= 2 * _COUNT_BATCH_CHARS
    assert all(len(c.embed_text.split()) <= 200 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text.strip())


def test_a_huge_word_is_cut_into_bounded_pieces():
    text = "x" * 1_000_000
    chunker = Chunker(lambda ts: [1 for t in ts], max_tokens=50, overlap_tokens=0)  # like an [UNK] word
    chunks = chunker.chunk(make_doc(Section(text)), "d")
    assert "".join(c.text for c in chunks) == text and max(len(c.text) for c in chunks) <= chunker.max_unit_chars
