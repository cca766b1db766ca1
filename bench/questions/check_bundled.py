"""Mechanical check of the bundled evaluation questions (corpora/homeowner-questions.jsonl).

    python bench/questions/check_bundled.py [questions.jsonl] [--search]

Checks, each a line naming the question and the fix:
- every line has the fields of the existing entries (id, question, answers, gold_docs, evidence, kind) with the
  right types, ids are unique and kinds known; unanswerable kinds have no answers, gold documents or evidence, the
  others have all three; a two-part ("multi") question has one gold phrase per part; a "pdf" question has a PDF
  among its gold documents; a gold phrase is a short fact (at most `MAX_PHRASE_WORDS` words);
- every gold document is in corpora/homeowner; every gold phrase occurs, after the normalisation `rag eval`
  applies to answers (`rag.evaluation.lenient`), inside one chunk of a gold document as the bundled index
  (indexes/homeowner) holds it, so an answer that quotes that passage matches it; each sentence of the evidence
  (parts from different places joined by " / ") occurs in a gold document's text as the project's loader
  extracts it;
- the bundled index holds the corpus as it is now (same file hashes), or the chunk check would be about old text;
- no question repeats or closely paraphrases a question the project trains or calibrates on
  (corpora/training/*.jsonl, corpora/calibration/*.jsonl): not equal after normalisation, no `COPIED_RUN`-word run
  in common, and a content-word overlap (Jaccard over `rag.text.content_words`) below `PARAPHRASE_OVERLAP`.
  Repeats of another evaluation set (bench/questions/cfpb.jsonl, ../shared/eval/qa_dev.jsonl) are printed as notes;
- no question copies a `COPIED_RUN`-word run of a corpus document: questions are in a homeowner's words.
It prints the counts by kind and by gold document; exit status 1 when any check fails.

`--search` also prints, for every unanswerable question, the top passages `rag search` returns from the bundled
index (loads the embedding model), to confirm by reading that none of them states the asked fact.
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from check_questions import Report, read_lines, word_runs  # noqa: E402  (a sibling script, found from here)

from rag.evaluation import lenient  # noqa: E402
from rag.text import content_words, split_sentences  # noqa: E402

QUESTIONS = ROOT / "corpora" / "homeowner-questions.jsonl"
CORPUS = ROOT / "corpora" / "homeowner"
INDEX = ROOT / "indexes" / "homeowner"
TRAINED_ON = (*sorted((ROOT / "corpora" / "training").glob("*.jsonl")),
              *sorted((ROOT / "corpora" / "calibration").glob("*.jsonl")))
OTHER_EVALUATIONS = (ROOT / "bench" / "questions" / "cfpb.jsonl", ROOT.parent / "shared" / "eval" / "qa_dev.jsonl")
ANSWERABLE_KINDS = frozenset({"paraphrase", "heading", "multi", "pdf"})
UNANSWERABLE_KINDS = frozenset({"unanswerable", "unanswerable-near-topic"})  # the first: off-topic (and the old ones)
KINDS = ANSWERABLE_KINDS | UNANSWERABLE_KINDS
FIELDS = {"id": str, "question": str, "answers": list, "gold_docs": list, "evidence": str, "kind": str}
EVIDENCE_JOIN = " / "
MAX_PHRASE_WORDS = 10  # a gold phrase is a short fact an answer can state, not a sentence
COPIED_RUN = 8  # consecutive normalised words shared with another text that make a copy
PARAPHRASE_OVERLAP = 0.6  # content-word Jaccard from which two questions ask the same thing in the same words
# Entries of the original 89 that close-paraphrase a training question; kept unchanged (their ids and text are
# frozen), reported as notes. Replace them only together with whatever split or results refer to them.
# Questions allowed to repeat training data, with the reason (none: a32 and b04 repeated training questions and
# were removed from the evaluation set before it was split).
KEPT_REPEATS: dict[str, str] = {}


@dataclass
class BundledReport(Report):
    notes: list[str] = field(default_factory=list)  # worth a look, not a failure


def check_fields(questions: list[dict], report: Report) -> None:
    seen: set[str] = set()
    for data in questions:
        name = str(data.get("id", "?"))
        wrong = [f for f, kind in FIELDS.items() if not isinstance(data.get(f), kind)]
        if wrong:
            report.problems.append(f"{name}: field(s) {', '.join(wrong)} missing or of the wrong type; every line "
                                   f"needs {', '.join(f'{f} ({t.__name__})' for f, t in FIELDS.items())}")
            continue
        if name in seen:
            report.problems.append(f"{name}: duplicate id; give each question its own id")
        seen.add(name)
        kind, answers, docs = data["kind"], data["answers"], data["gold_docs"]
        report.by_kind[kind] += 1
        for doc in docs:
            report.by_doc[doc] += 1
        if not data["question"].strip():
            report.problems.append(f"{name}: empty question")
        if not all(isinstance(x, str) and x.strip() for x in answers + docs):
            report.problems.append(f"{name}: answers and gold_docs must be lists of non-empty text")
        elif kind not in KINDS:
            report.problems.append(f"{name}: unknown kind {kind!r}; use one of {', '.join(sorted(KINDS))}")
        elif kind in UNANSWERABLE_KINDS and (answers or docs or data["evidence"]):
            report.problems.append(f"{name}: an unanswerable question has \"answers\": [], \"gold_docs\": [] "
                                   "and \"evidence\": \"\"")
        elif kind in ANSWERABLE_KINDS and not (answers and docs and data["evidence"].strip()):
            report.problems.append(f"{name}: an answerable question needs gold phrases, gold documents and evidence")
        elif kind == "multi" and len(answers) < 2:
            report.problems.append(f"{name}: a two-part question needs one gold phrase per part (at least two)")
        elif kind == "pdf" and not any(d.endswith(".pdf") for d in docs):
            report.problems.append(f"{name}: a pdf question needs a PDF among its gold documents")
        for phrase in answers:
            if isinstance(phrase, str) and len(lenient(phrase).split()) > MAX_PHRASE_WORDS:
                report.problems.append(f"{name}: gold phrase {phrase!r} is long; keep the fact (at most "
                                       f"{MAX_PHRASE_WORDS} words)")


@lru_cache(maxsize=4)  # the files do not change while one process checks
def document_texts(corpus: Path) -> dict[str, str]:
    """Each corpus file's text as the project's loader extracts it, normalised, by path under the corpus."""
    from rag.errors import LoaderError
    from rag.loaders import is_supported, load_document

    texts = {}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and is_supported(p)):
        try:
            texts[path.relative_to(corpus).as_posix()] = f" {lenient(load_document(path).text)} "
        except LoaderError:
            continue
    return texts


@lru_cache(maxsize=4)
def index_chunks(index: Path, corpus: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Each document's chunk texts (normalised) as the current version of the index holds them, and the problems:
    an unreadable index, or a document whose file changed since it was indexed (its chunks are old text)."""
    from rag.index.metadata import FILE
    from rag.scanning import file_sha256, resolve_stored

    try:
        folder = index / (index / "CURRENT").read_text().strip()
        connection = sqlite3.connect(f"file:{(folder / FILE).as_posix()}?mode=ro", uri=True)
        try:
            rows = connection.execute('SELECT d.source, d.sha256, c.text FROM chunks c JOIN occurrences o ON '
                                      'o.chunk_id = c.id JOIN documents d ON d.doc_id = o.doc_id').fetchall()
        finally:
            connection.close()
    except (OSError, sqlite3.Error) as exc:
        return {}, [f"cannot read the bundled index {index} ({exc}); rebuild it with `rag ingest {corpus} --index "
                    f"{index}`"]
    chunks: dict[str, list[str]] = {}
    stale: set[str] = set()
    for source, sha256, text in rows:
        path = resolve_stored(source, index)
        try:
            name = path.relative_to(corpus.resolve()).as_posix()
        except ValueError:
            continue
        if not path.is_file() or file_sha256(path) != sha256:
            stale.add(name)
        chunks.setdefault(name, []).append(f" {lenient(text)} ")
    return chunks, [f"{name}: changed since the bundled index was built; refresh {index}" for name in sorted(stale)]


def check_gold(questions: list[dict], texts: dict[str, str], chunks: dict[str, list[str]], report: Report) -> None:
    for data in questions:
        name, docs = str(data.get("id", "?")), [d for d in data.get("gold_docs", []) if isinstance(d, str)]
        for doc in docs:
            if doc not in texts:
                report.problems.append(f"{name}: gold document {doc!r} is not in {CORPUS.relative_to(ROOT)}; "
                                       "give its path under that folder")
        for phrase in (p for p in data.get("answers", []) if isinstance(p, str)):
            said = f" {lenient(phrase)} "
            if not any(said in chunk for d in docs for chunk in chunks.get(d, [])):
                report.problems.append(f"{name}: gold phrase {phrase!r} is in no chunk of its gold documents; "
                                       "quote a short fact the passage states")
        evidence = data.get("evidence") if isinstance(data.get("evidence"), str) else ""
        # sentences, as the evidence quotes them (markdown emphasis included, which would hide a sentence start)
        sentences = (s for p in evidence.replace("**", "").split(EVIDENCE_JOIN) for s in split_sentences(p))
        for part in filter(str.strip, sentences):
            if not any(f" {lenient(part)} " in texts.get(d, "") for d in docs):
                report.problems.append(f"{name}: evidence {part[:60]!r}... is not in its gold documents; quote the "
                                       "supporting sentence as the document words it")


@lru_cache(maxsize=4)
def other_questions(paths: tuple[Path, ...]) -> list[tuple[str, str]]:
    """(question, file name) of every question in the given JSONL files that exist."""
    found = []
    for path in paths:
        if path.is_file():
            found += [(d["question"], path.name) for d in read_lines(path, Report())
                      if isinstance(d.get("question"), str)]
    return found


def check_repeats(questions: list[dict], others: list[tuple[str, str]], found: list[str]) -> None:
    """A question equal (normalised) to another set's, sharing a long run of words, or most of its content words
    (Jaccard at least `PARAPHRASE_OVERLAP`); each one a line added to `found`."""
    same = {lenient(q): i for i, (q, _) in enumerate(others)}
    runs = {run: i for i, (q, _) in enumerate(others) for run in word_runs(q, COPIED_RUN)}
    words = [content_words(q) for q, _ in others]
    having: dict[str, list[int]] = {}
    for i, ws in enumerate(words):
        for w in ws:
            having.setdefault(w, []).append(i)
    for data in questions:
        text = str(data.get("question", ""))
        mine = content_words(text)
        shared = Counter(i for w in mine for i in having.get(w, ()))
        close = (i for i, n in shared.items() if n / len(mine | words[i]) >= PARAPHRASE_OVERLAP)
        match = same.get(lenient(text), next((runs[r] for r in word_runs(text, COPIED_RUN) if r in runs), None))
        match = match if match is not None else next(close, None)
        if match is not None:
            other, where = others[match]
            found.append(f"{data.get('id', '?')}: repeats or closely paraphrases {other!r} ({where}); ask it in "
                         "other words or ask another fact")


def check_copying(questions: list[dict], texts: dict[str, str], report: Report) -> None:
    corpus_runs = set().union(*(word_runs(t, COPIED_RUN) for t in texts.values())) if texts else set()
    for data in questions:
        copied = word_runs(str(data.get("question", "")), COPIED_RUN) & corpus_runs
        if copied:
            report.problems.append(f"{data.get('id', '?')}: question copies the corpus words "
                                   f"\"{' '.join(min(copied))}\"; rephrase it in a homeowner's words")


def check(questions_path: Path = QUESTIONS, corpus: Path = CORPUS, index: Path = INDEX,
          trained_on: tuple[Path, ...] = TRAINED_ON, other_evaluations: tuple[Path, ...] = OTHER_EVALUATIONS
          ) -> tuple[BundledReport, list[dict]]:
    """The problems (and notes: repeats of another evaluation set, which no training sees) of a question file."""
    report = BundledReport()
    questions = read_lines(questions_path, report)
    check_fields(questions, report)
    repeats: list[str] = []
    check_repeats(questions, other_questions(trained_on), repeats)
    for line in repeats:
        (report.notes if line.split(":", 1)[0] in KEPT_REPEATS else report.problems).append(line)
    check_repeats(questions, other_questions(other_evaluations), report.notes)
    texts = document_texts(corpus)
    chunks, index_problems = index_chunks(index, corpus)
    report.problems += index_problems
    check_gold(questions, texts, chunks, report)
    check_copying(questions, texts, report)
    return report, questions


def print_search(questions: list[dict], index: Path, top: int = 3) -> None:
    import rag

    kb = rag.open(index)
    for data in questions:
        if data.get("kind") in UNANSWERABLE_KINDS:
            print(f"\n{data['id']}: {data['question']}")
            for hit in kb.search(data["question"], top):
                print(f"   {Path(hit.source).name} | {' '.join(hit.text.split())[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="?", type=Path, default=QUESTIONS)
    parser.add_argument("--search", action="store_true", help="print the top passages for unanswerable questions")
    args = parser.parse_args(argv)
    report, questions = check(args.questions)
    print("by kind:", ", ".join(f"{k} {n}" for k, n in sorted(report.by_kind.items())),
          f"(total {sum(report.by_kind.values())})")
    print("by document:")
    for doc, n in sorted(report.by_doc.items()):
        print(f"  {n:3d}  {doc}")
    untouched = sorted(set(document_texts(CORPUS)) - set(report.by_doc))
    print("documents with no question:", ", ".join(untouched) or "none")
    for line in report.notes:
        print("note:", line)
    for line in report.problems:
        print(line)
    if args.search:
        print_search(questions, INDEX)
    print("OK" if not report.problems else f"{len(report.problems)} problem(s)")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
