"""Where a PDF fact is lost: extraction, chunking, sentence units, retrieval or the answer.

    python bench/pdf_text.py --questions bench/questions/cfpb.jsonl --corpus ../shared/eval/corpus \
        --index /tmp/cfpb-pdf --label cfpb [--answers]

For each answerable question of one kind (default "pdf") on the `tune` split (the test split is never
read here), every gold phrase is looked for, in the lenient form `rag eval` matches answers with:
- extracted: in the gold document's text as the loader gives it;
- in_chunk: inside one indexed passage of the gold document;
- quotable: inside one sentence unit the quoting reads (`rag.highlighting.sentences`), and that unit's
  length in words (a 100-word "sentence" of table rows is no quote, and no check can use it);
- retrieval: rank of the gold document, and of a gold passage holding the phrase, in the top 8;
- with --answers: the answer (correct, refused). Slow: one generation per question.
Besides, per PDF of the corpus: pages, sections, sections under a heading, sentence units and their
length. Only ids, counts and ranks are written (no corpus text), under `label` in
bench/results/pdf_text.json, so runs before and after a change sit side by side.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from common import RESULTS, write_results

import rag
from rag.evaluation import first_gold_rank, is_gold, lenient, read_questions, select_split
from rag.highlighting import sentences
from rag.loaders import load_document

K = 8  # the reranker's candidates: what an answer can draw on
LONG_UNIT_WORDS = 60


def _has(text: str, phrase: str) -> bool:
    return f" {lenient(phrase)} " in f" {lenient(text)} "


def pdf_units(corpus: Path) -> dict:
    """Per PDF: how its text reads as sections and sentence units."""
    report = {}
    for path in sorted(corpus.rglob("*.pdf")):
        doc = load_document(path)
        units = [len(u.split()) for s in doc.sections for u in sentences(s.text)]
        report[str(path.relative_to(corpus))] = {
            "pages": len({s.page for s in doc.sections}), "sections": len(doc.sections),
            "sections_with_heading": sum(1 for s in doc.sections if s.headings),
            "units": len(units), "median_unit_words": statistics.median(units) if units else None,
            f"units_over_{LONG_UNIT_WORDS}_words": sum(1 for n in units if n > LONG_UNIT_WORDS)}
    return report


def measure(kb, questions, corpus: Path, answers: bool) -> dict:
    rows = kb.snapshot.metadata.connection.execute(
        "SELECT c.text, d.source FROM chunks c JOIN occurrences o ON o.chunk_id = c.id "
        "JOIN documents d ON d.doc_id = o.doc_id").fetchall()
    records = []
    for q in questions:
        docs = [load_document(corpus / g) for g in q.gold_docs if (corpus / g).is_file()]
        full = " ".join(s.text for d in docs for s in d.sections)
        chunks = [text for text, source in rows if is_gold(source, q.gold_docs)]
        units = [u for text in chunks for u in sentences(text)]
        shortest = [min((len(u.split()) for u in units if _has(u, p)), default=None) for p in q.answers]
        hits = kb.search(q.question, k=K)
        record = {
            "id": q.id, "extracted": all(_has(full, p) for p in q.answers),
            "in_chunk": all(any(_has(c, p) for c in chunks) for p in q.answers),
            "quotable": all(n is not None for n in shortest), "unit_words": shortest,
            "gold_rank": first_gold_rank(hits, q.gold_docs),
            "gold_passage_rank": next((rank for rank, h in enumerate(hits, start=1) if is_gold(h.source, q.gold_docs)
                                       and any(_has(h.text, p) for p in q.answers)), None)}
        if answers:
            answer = kb.ask(q.question)
            record["refused"] = answer.refused
            record["correct"] = not answer.refused and all(_has(answer.text, p) for p in q.answers)
        records.append(record)
        print(json.dumps(record), flush=True)
    n = len(records) or 1
    share = lambda key: round(sum(bool(r[key]) for r in records) / n, 4)  # noqa: E731
    words = [w for r in records for w in r["unit_words"] if w]
    summary = {"questions": len(records), **{key: share(key) for key in ("extracted", "in_chunk", "quotable")},
               "median_unit_words": statistics.median(words) if words else None,
               f"units_over_{LONG_UNIT_WORDS}_words": sum(1 for w in words if w > LONG_UNIT_WORDS)}
    for k in (1, 4, K):
        summary[f"gold_doc@{k}"] = round(sum(1 for r in records if r["gold_rank"] and r["gold_rank"] <= k) / n, 4)
        summary[f"gold_passage@{k}"] = round(
            sum(1 for r in records if r["gold_passage_rank"] and r["gold_passage_rank"] <= k) / n, 4)
    if answers:
        summary.update(correct=share("correct"), refused=share("refused"))
    return {"summary": summary, "records": records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--label", required=True, help="the key this run is stored under (e.g. cfpb-after)")
    parser.add_argument("--kind", default="pdf")
    parser.add_argument("--answers", action="store_true", help="also answer each question (slow)")
    args = parser.parse_args()
    questions = [q for q in select_split(read_questions(args.questions), "tune")
                 if q.answerable and q.kind == args.kind]
    kb = rag.open(args.index)
    result = measure(kb, questions, args.corpus, args.answers)
    result["pdfs"] = pdf_units(args.corpus)
    result["command"] = (f"python bench/pdf_text.py --questions {args.questions} --corpus {args.corpus} "
                         f"--index {args.index} --label {args.label} --kind {args.kind}"
                         + (" --answers" if args.answers else ""))
    previous = RESULTS / "pdf_text.json"
    runs = json.loads(previous.read_text()).get("runs", {}) if previous.is_file() else {}
    runs[args.label] = result
    write_results("pdf_text", {"runs": runs})


if __name__ == "__main__":
    main()
