"""`rag tune-selector`: fit the learned answer-sentence selector from the project's own data."""
from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PAIRS = [REPO / "corpora" / "training" / "qa-part-a.jsonl", REPO / "corpora" / "training" / "qa-part-b.jsonl"]
DEFAULT_UNANSWERABLE = REPO / "corpora" / "calibration" / "unanswerable.jsonl"
# Evaluation questions: the selector is judged on them, so it never trains on them.
EVALUATION_FILES = [REPO / "corpora" / "homeowner-questions.jsonl",
                    *sorted((REPO / "bench" / "questions").glob("*.jsonl"))]


def register(app: typer.Typer) -> None:
    app.command(name="tune-selector")(tune_selector)


def tune_selector(ctx: typer.Context,
                  out: Path = typer.Option(..., "--out", help="Selector file to write (JSON)."),
                  pairs: Optional[List[Path]] = typer.Option(None, "--pairs", help="Question/answer pairs with "
                                                             "'support' and 'doc' (default: "
                                                             "corpora/training/qa-part-a/b.jsonl)."),
                  unanswerable: Optional[Path] = typer.Option(None, help="Questions the documents don't answer "
                                                              "(default: corpora/calibration/unanswerable.jsonl)."),
                  corpus: Optional[Path] = typer.Option(None, help="Also derive pairs by rule from this folder."),
                  derived_per_kind: int = typer.Option(40, min=0, help="At most this many derived pairs per kind."),
                  index: Optional[Path] = typer.Option(None, "--index", "-i", help="Index the candidates come from."),
                  candidates: int = typer.Option(8, min=1, help="Retrieved passages per question (as answering)."),
                  negatives: int = typer.Option(24, min=1, help="Other sentences kept per question."),
                  validation_share: float = typer.Option(0.2, min=0.05, max=0.5,
                                                         help="Questions held out to compare with the old score."),
                  seed: int = typer.Option(0, help="Random seed.")):
    """Fit the sentence selector on labelled sentences of the project's own question/answer pairs."""
    from rag.errors import RagError
    from rag.evaluation import read_questions
    from rag.highlighting import hand_weighted_scores
    from rag.selection.data import labelled_pairs, validation_groups
    from rag.selection.training import fit_selector
    from rag.tuning.data import read_pairs
    from rag.tuning.derived import derived_pairs

    from .main import err, fail, open_knowledge_base, settings_for

    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        kb = open_knowledge_base(settings)
        written = read_pairs(pairs or DEFAULT_PAIRS) + (derived_pairs(corpus, derived_per_kind) if corpus else [])
        refusing = read_pairs([unanswerable or DEFAULT_UNANSWERABLE])
        held_out = [q.question for path in EVALUATION_FILES if path.is_file() for q in read_questions(path)]
        labelled = labelled_pairs(written, refusing, kb.search, candidates, negatives, held_out, seed)
        err(f"{len(labelled)} labelled sentences ({sum(p.label for p in labelled)} answering) "
            f"from {len({p.group for p in labelled})} questions")
        selector, report = fit_selector(labelled, validation_groups(labelled, validation_share, seed),
                                        kb.embedder.embed, settings.answering, baseline=hand_weighted_scores)
        selector.save(out)
    except (RagError, OSError, ValueError, KeyError) as exc:
        fail(exc)
    typer.echo(f"wrote {out}; held-out questions: {json.dumps(report)}")
