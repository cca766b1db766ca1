"""Mechanical check of an evaluation question file written over ../shared/eval/corpus.

    python bench/questions/check_questions.py [questions.jsonl] [--corpus DIR]

Checks, each a line naming the question and the fix:
- every line is a question object with the fields `rag eval` reads (id, question, answers, gold_docs, kind),
  ids are unique, kinds are known; unanswerable kinds have no answers and no gold documents, the others have both;
  a two-part question has one gold phrase per part (at least two); no gold phrase is already in its question;
- every gold document exists in the corpus, and every gold phrase occurs in at least one of the question's gold
  documents, after the same normalisation `rag eval` applies to answers (`rag.evaluation.lenient`), in the text
  the project's own loader extracts (`rag.loaders.load_document`, what ingest chunks);
- no question shares `COPIED_RUN` consecutive (normalised) words with any corpus document: questions are written
  in a homeowner's words, not lifted from the documents;
- no question repeats one of the project's training, calibration or bundled questions (corpora/training/*.jsonl,
  corpora/calibration/*.jsonl, corpora/homeowner-questions.jsonl), nor one of the development questions
  (../shared/eval/qa_dev.jsonl).
It prints the counts by kind and by gold document; exit status 1 when any check fails.
The corpus checks are skipped (and said so) when the corpus folder is absent.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rag.evaluation import lenient  # noqa: E402  (the repo root is on the path only from here)
from rag.text import content_words, share_found  # noqa: E402

QUESTIONS = ROOT / "bench" / "questions" / "cfpb.jsonl"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
CORPUS = SHARED_EVAL / "corpus"
OTHER_QUESTION_FILES = (*sorted((ROOT / "corpora" / "training").glob("*.jsonl")),
                        *sorted((ROOT / "corpora" / "calibration").glob("*.jsonl")),
                        ROOT / "corpora" / "homeowner-questions.jsonl", SHARED_EVAL / "qa_dev.jsonl")
ANSWERABLE_KINDS = frozenset({"heading", "paraphrase", "pdf", "two-part", "definition", "number", "procedure"})
UNANSWERABLE_KINDS = frozenset({"unanswerable-near-topic", "unanswerable-off-topic"})
KINDS = ANSWERABLE_KINDS | UNANSWERABLE_KINDS
FIELDS = ("id", "question", "answers", "gold_docs", "kind")
COPIED_RUN = 8  # consecutive normalised words a question may not share with a corpus document
# A question whose content words and another set's question's content words are each at least this share of the
# other's is the same question reworded ("What is X?" / "What does X mean?"), not a new one.
NEAR_DUPLICATE = 0.75


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    by_kind: Counter = field(default_factory=Counter)
    by_doc: Counter = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)  # every corpus document the loader could read


def read_lines(path: Path, report: Report) -> list[dict]:
    """The question objects of a JSONL file; a malformed line is a problem, not a traceback."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        report.problems.append(f"{path}: cannot read ({exc}); give a UTF-8 JSONL file")
        return []
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            report.problems.append(f"{path.name}:{number}: not JSON ({exc.msg}); write one object a line")
            continue
        if not isinstance(data, dict):
            report.problems.append(f"{path.name}:{number}: not a JSON object; write one object a line")
            continue
        questions.append(data)
    return questions


def check_fields(questions: list[dict], report: Report) -> None:
    seen: set[str] = set()
    for data in questions:
        name = str(data.get("id", "?"))
        missing = [f for f in FIELDS if f not in data]
        if missing:
            report.problems.append(f"{name}: missing field(s) {', '.join(missing)}; every line needs {FIELDS}")
            continue
        if not (isinstance(data["question"], str) and data["question"].strip()):
            report.problems.append(f"{name}: 'question' must be non-empty text")
        if not all(isinstance(data[f], list) and all(isinstance(x, str) and x.strip() for x in data[f])
                   for f in ("answers", "gold_docs")):
            report.problems.append(f"{name}: 'answers' and 'gold_docs' must be lists of non-empty text")
            continue
        if name in seen:
            report.problems.append(f"{name}: duplicate id; give each question its own id")
        seen.add(name)
        kind = data["kind"]
        report.by_kind[kind] += 1
        if kind not in KINDS:
            report.problems.append(f"{name}: unknown kind {kind!r}; use one of {sorted(KINDS)}")
        elif kind in UNANSWERABLE_KINDS and (data["answers"] or data["gold_docs"]):
            report.problems.append(f"{name}: an unanswerable question has \"answers\": [] and \"gold_docs\": []")
        elif kind in ANSWERABLE_KINDS and not (data["answers"] and data["gold_docs"]):
            report.problems.append(f"{name}: an answerable question needs gold phrases and gold documents")
        elif kind == "two-part" and len(data["answers"]) < 2:
            report.problems.append(f"{name}: a two-part question needs one gold phrase per part (at least two)")
        asked = f" {lenient(str(data['question']))} "
        for phrase in data["answers"]:
            if f" {lenient(phrase)} " in asked:
                report.problems.append(f"{name}: gold phrase {phrase!r} is in the question itself, so any answer "
                                       "repeating the question matches; use the fact that answers it")
        for doc in data["gold_docs"]:
            report.by_doc[doc] += 1


def corpus_texts(corpus: Path) -> dict[str, str]:
    """Each corpus file's text as the project's loader extracts it (what ingest chunks), normalised."""
    from rag.errors import LoaderError
    from rag.loaders import is_supported, load_document

    texts = {}
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and is_supported(p)):
        try:
            document = load_document(path)
        except LoaderError:
            continue
        texts[path.relative_to(corpus).as_posix()] = f" {lenient(document.title + chr(10) + document.text)} "
    return texts


def check_phrases(questions: list[dict], texts: dict[str, str], report: Report) -> None:
    for data in questions:
        name = str(data.get("id", "?"))
        docs = [d for d in data.get("gold_docs", []) if isinstance(d, str)]
        for doc in docs:
            if doc not in texts:
                report.problems.append(f"{name}: gold document {doc!r} is not in the corpus; use a file name "
                                       "relative to the corpus folder")
        for phrase in data.get("answers", []):
            if isinstance(phrase, str) and not any(f" {lenient(phrase)} " in texts.get(d, "") for d in docs):
                report.problems.append(f"{name}: gold phrase {phrase!r} is in none of its gold documents; "
                                       "quote a short fact the document states")


def word_runs(text: str, length: int = COPIED_RUN) -> set[tuple[str, ...]]:
    words = lenient(text).split()
    return {tuple(words[i:i + length]) for i in range(len(words) - length + 1)}


def check_copying(questions: list[dict], texts: dict[str, str], report: Report) -> None:
    corpus_runs = set().union(*(word_runs(t) for t in texts.values())) if texts else set()
    for data in questions:
        copied = word_runs(str(data.get("question", ""))) & corpus_runs
        if copied:
            report.problems.append(f"{data.get('id', '?')}: question copies the corpus words "
                                   f"\"{' '.join(min(copied))}\"; rephrase it in your own words")


def check_repeats(questions: list[dict], other_files: tuple[Path, ...], report: Report) -> None:
    """A question equal (normalised) to another set's question, sharing a long run of words with one, or
    rewording one (`NEAR_DUPLICATE`)."""
    others: dict[str, str] = {}
    for path in other_files:
        if path.is_file():
            for data in read_lines(path, Report()):
                if isinstance(data.get("question"), str):
                    others[lenient(data["question"])] = path.name
    other_runs = {run: name for text, name in others.items() for run in word_runs(text)}
    other_words = [(content_words(text), name) for text, name in others.items()]
    for data in questions:
        text = str(data.get("question", ""))
        words = content_words(lenient(text))
        where = (others.get(lenient(text))
                 or next((other_runs[r] for r in word_runs(text) if r in other_runs), None)
                 or next((name for theirs, name in other_words
                          if min(share_found(words, theirs), share_found(theirs, words)) >= NEAR_DUPLICATE), None))
        if where:
            report.problems.append(f"{data.get('id', '?')}: repeats a question of {where}; write a new one")


def check(questions_path: Path = QUESTIONS, corpus: Path = CORPUS,
          other_files: tuple[Path, ...] = OTHER_QUESTION_FILES) -> Report:
    report = Report()
    questions = read_lines(questions_path, report)
    check_fields(questions, report)
    check_repeats(questions, other_files, report)
    if corpus.is_dir():
        texts = corpus_texts(corpus)
        report.documents = sorted(texts)
        check_phrases(questions, texts, report)
        check_copying(questions, texts, report)
    else:
        report.skipped.append(f"corpus {corpus} absent: gold phrases and copying not checked")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="?", type=Path, default=QUESTIONS)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)
    report = check(args.questions, args.corpus)
    print("by kind:", ", ".join(f"{k} {n}" for k, n in sorted(report.by_kind.items())),
          f"(total {sum(report.by_kind.values())})")
    print("by document:")
    for doc, n in sorted(report.by_doc.items()):
        print(f"  {n:3d}  {doc}")
    if report.documents:
        untouched = sorted(set(report.documents) - set(report.by_doc))
        print("documents with no question:", ", ".join(untouched) or "none")
    for line in report.skipped + report.problems:
        print(line)
    print("OK" if not report.problems else f"{len(report.problems)} problem(s)")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
