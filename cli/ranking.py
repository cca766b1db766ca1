"""`rag tune-ranker`: fit retrieval's learned ranker (rag.fusion) from the project's own training-side questions."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from .selection import EVALUATION_FILES, REPO

DEFAULT_QUESTIONS = [REPO / "corpora" / "training" / "qa-part-a.jsonl",
                     REPO / "corpora" / "training" / "qa-part-b.jsonl",
                     REPO / "corpora" / "calibration" / "answerable-extra.jsonl"]


def register(app: typer.Typer) -> None:
    app.command(name="tune-ranker")(tune_ranker)


def tune_ranker(ctx: typer.Context,
                questions: Optional[List[Path]] = typer.Argument(
                    None, help="Training-side files: pairs (question, support) or questions (question, answers, "
                    "gold_docs); default corpora/training/qa-part-a/b.jsonl (the shipped ranker's) and "
                    "corpora/calibration/answerable-extra.jsonl. "
                    "Evaluation files and questions are refused."),
                out: Path = typer.Option(..., "--out", help="Ranker file to write (JSON); point "
                                         "retrieval.ranker at it."),
                index: Optional[Path] = typer.Option(None, "--index", "-i", help="Index the candidates come from."),
                l2: float = typer.Option(0.01, min=0.0, help="Weight decay of the logistic fit.")):
    """Fit the passage ranker that orders dense and BM25 candidates."""
    from rag.errors import RagError
    from rag.fusion import fit_ranker, ranking_examples, read_ranking_questions
    from rag.tuning.feedback import evaluation_questions

    from .main import err, fail, open_knowledge_base, settings_for

    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        kb = open_knowledge_base(settings)
        evaluation = evaluation_questions(path for path in EVALUATION_FILES if path.is_file())
        labelled = [q for path in (questions or DEFAULT_QUESTIONS) for q in read_ranking_questions(path, evaluation)]
        retriever = kb.retriever()
        n = max(settings.retrieval.candidates, settings.retrieval.k * 4)
        examples = ranking_examples(
            labelled, lambda question: retriever.candidates(question, kb.embedder.embed_query(question), n)[0])
        err(f"{len(examples)} questions, {sum(any(e.answering) for e in examples)} with an answering candidate")
        ranker = fit_ranker(examples, l2)
    except (RagError, OSError, ValueError) as exc:
        fail(exc)
    ranker.fitted_on["data"] = [str(Path(p).resolve().relative_to(REPO)) if Path(p).resolve().is_relative_to(REPO)
                                else str(p) for p in (questions or DEFAULT_QUESTIONS)]
    ranker.save(out)
    typer.echo(f"wrote {out}: {json.dumps(ranker.fitted_on)}")
