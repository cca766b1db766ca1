"""`rag tune-selector`: train the learned answer-sentence selector from the project's own data."""
from __future__ import annotations

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
                  pairs: Optional[List[Path]] = typer.Option(None, "--pairs", help="Question/answer pairs with "
                                                             "'support' and 'doc' (default: corpora/training/qa-*)."),
                  unanswerable: Optional[Path] = typer.Option(None, help="Questions the documents don't answer "
                                                              "(default: corpora/calibration/unanswerable.jsonl)."),
                  corpus: Optional[Path] = typer.Option(None, help="Also derive pairs by rule from this folder."),
                  derived_per_kind: int = typer.Option(40, min=0, help="At most this many derived pairs per kind."),
                  index: Optional[Path] = typer.Option(None, "--index", "-i", help="Index the candidates come from."),
                  out: Path = typer.Option(..., "--out", help="Selector folder to write (LoRA adapter + head)."),
                  candidates: int = typer.Option(8, min=1, help="Retrieved passages per question (as answering)."),
                  negatives: int = typer.Option(16, min=1, help="Other sentences kept per question."),
                  epochs: int = typer.Option(3, min=1, help="Passes over the pairs."),
                  max_minutes: float = typer.Option(30.0, help="Wall-clock bound."),
                  seed: int = typer.Option(0, help="Random seed.")):
    """Train the sentence selector (a cross-encoder on the bundled MiniLM) on labelled sentence pairs."""
    from rag.embedding import bundled_embedding_model
    from rag.errors import RagError
    from rag.evaluation import read_questions
    from rag.selection.data import labelled_pairs, validation_groups
    from rag.selection.training import SelectorTrainingConfig, train_selector
    from rag.tuning.data import read_pairs
    from rag.tuning.derived import derived_pairs

    from .main import err, fail, open_knowledge_base, settings_for

    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        config = SelectorTrainingConfig(epochs=epochs, max_minutes=max_minutes, seed=seed)
        kb = open_knowledge_base(settings)
        written = read_pairs(pairs or DEFAULT_PAIRS) + (derived_pairs(corpus, derived_per_kind) if corpus else [])
        refusing = read_pairs([unanswerable or DEFAULT_UNANSWERABLE])
        held_out = [q.question for path in EVALUATION_FILES if path.is_file() for q in read_questions(path)]
        labelled = labelled_pairs(written, refusing, kb.search, candidates, negatives, held_out, seed)
        validation = validation_groups(labelled, config.validation_share, seed)
        err(f"{len(labelled)} labelled sentences ({sum(p.label for p in labelled)} answering) "
            f"from {len({p.group for p in labelled})} questions")
        encoder = Path(settings.embedding.model) if settings.embedding.model else bundled_embedding_model()
        card = train_selector(labelled, validation, encoder, out, config,
                              baseline=lambda held: _highlight_scores(held, kb.embedder.embed, settings.answering),
                              log=err)
    except (RagError, OSError, ValueError, KeyError) as exc:
        fail(exc)
    last = card["history"][-1]
    typer.echo(f"wrote {out}: validation top-1 {last['validation_top1']} (hand-weighted score: "
               f"{card['validation_baseline']['top1']}), AUC {last['validation_auc']} "
               f"({card['validation_baseline']['auc']}), {card['minutes']} min")


def _highlight_scores(pairs, embed, policy) -> list[float]:
    """The hand-weighted highlight score (cosine + word overlap) of each pair, for the training card."""
    from rag.highlighting import _scores

    scores = [0.0] * len(pairs)
    by_question: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        by_question.setdefault(pair.question, []).append(i)
    for question, members in by_question.items():
        vectors = embed([question] + [pairs[i].text for i in members])
        candidates = [(1, "", pairs[i].text) for i in members]
        for i, value in zip(members, _scores(question, vectors[0], candidates, vectors[1:], policy)):
            scores[i] = float(value)
    return scores
