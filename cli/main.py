"""`rag`: ingest documents, search them, inspect an index."""
from __future__ import annotations

import json
import tempfile
import time
import traceback
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

import rag
from rag.errors import RagError
from rag.settings import MAX_K, Settings
from rag.tuning.data import TARGETS
from rag.evaluation import bootstrap_intervals, evaluate_answers, evaluate_retrieval, read_questions, select_split
from rag.evidence import calibrate as calibrate_evidence
from rag.evidence import read_labelled

from .output import (err, is_tty, print_eval_tables, print_hits, print_json, print_sources, stream_answer,
                     to_jsonable)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="An offline knowledge assistant for homeowners: ingest documents, search and ask them.")

INDEX_HELP = "Index directory (default: the bundled homeowner index, or RAG_INDEX)."
IndexOption = typer.Option(None, "--index", "-i", help=INDEX_HELP)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
NoAdapterOption = typer.Option(False, "--no-adapter", help="Answer with the base model, without the LoRA adapter.")

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2
TrainingTarget = Enum("TrainingTarget", {name: name for name in TARGETS}, type=str)  # typer lists and checks them


@app.callback()
def main(ctx: typer.Context,
         config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file (or RAG_CONFIG).")):
    from rag.threads import one_malloc_arena

    one_malloc_arena()  # this process is ours: answers on fresh threads must not each keep an arena
    ctx.obj = {"config": config}


def settings_for(ctx: typer.Context, **overrides) -> Settings:
    try:
        return Settings.load(config=ctx.obj.get("config") if ctx.obj else None,
                             overrides={k: v for k, v in overrides.items() if v is not None})
    except RagError as exc:
        fail(exc)


def fail(exc: Exception, code: int = EXIT_FAILED):
    err(f"error: {exc}")
    raise typer.Exit(code)


def open_knowledge_base(settings: Settings, use_adapter: bool = True) -> rag.KnowledgeBase:
    """The one place commands open an index (tests put a knowledge base with stand-in models here)."""
    return rag.open(settings.index, settings, use_adapter=use_adapter)


def fail_internal(exc: Exception):
    """A bug, not a user mistake: one line, the traceback in a file, and exit 2 (nothing was committed)."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        from platformdirs import user_log_path

        folder = user_log_path("rag")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path(tempfile.gettempdir())
    log = folder / f"internal-error-{time.strftime('%Y%m%d-%H%M%S')}-{id(exc):x}.log"
    try:
        log.write_text(text, encoding="utf-8")
        where = f"traceback written to {log}"
    except OSError as write_error:
        where = f"traceback could not be written: {write_error}"
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    err(f"error: internal error: {type(exc).__name__}: {first_line} ({where})")
    raise typer.Exit(EXIT_FAILED)


def require_text(value: str, name: str) -> str:
    """A blank QUESTION or QUERY is a usage error, like a missing one."""
    if not value.strip():
        err(f"error: {name} is empty; give it in plain words, e.g. rag {'ask' if name == 'QUESTION' else 'search'} "
            f"\"How big is the escrow cushion?\"")
        raise typer.Exit(EXIT_FAILED)
    return value


@app.command()
def ingest(ctx: typer.Context,
           paths: List[Path] = typer.Argument(..., help="Files or folders to index (.md .txt .html .pdf)."),
           index: Optional[Path] = IndexOption,
           wait: bool = typer.Option(False, "--wait", help="Wait for another writer instead of failing."),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing unless something failed."),
           as_json: bool = JsonOption,
           engine: Optional[str] = typer.Option(None, "--engine", help="Where files are read and embedded: local "
                                                "(this process) or ray (a Ray cluster); default: ingest.engine."),
           address: Optional[str] = typer.Option(None, "--address", help="The Ray cluster for --engine ray: auto "
                                                 "or HOST:PORT; default: setting ingest.ray_address.")):
    """Add, update and remove documents so the index matches PATHS. Exit 0: all indexed;
    1: some files failed, the rest committed; 2: nothing committed."""
    settings = settings_for(ctx, index=str(index) if index else None,
                            **{"ingest.engine": engine, "ingest.ray_address": address})
    try:
        report = rag.ingest(paths, settings.index, settings, progress=is_tty() and not quiet and not as_json,
                            wait=wait, log=None if quiet else err)
    except (RagError, OSError) as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 - a bug: reported in one line, the traceback kept in a file
        fail_internal(exc)
    show_report(report, settings.index, quiet, as_json)


def show_report(report, index, quiet: bool, as_json: bool):
    if as_json:
        print_json(report)
    elif not quiet or report.failed:
        for path, reason in report.failed:
            err(f"failed: {path}: {reason}")
        if not quiet:
            for path, reason in report.skipped:
                err(f"skipped: {path}: {reason}")
            typer.echo(f"{index}: {report.added} added, {report.updated} updated, {report.renamed} renamed, "
                       f"{report.removed} removed, {report.unchanged} unchanged, {len(report.failed)} failed; "
                       f"{report.chunks} chunks ({report.embedded} embedded) in {report.seconds:.1f}s "
                       f"[version {report.version}]")
    raise typer.Exit(EXIT_PARTIAL if report.failed else EXIT_OK)


@app.command()
def refresh(ctx: typer.Context,
            index: Optional[Path] = IndexOption,
            wait: bool = typer.Option(False, "--wait", help="Wait for another writer instead of failing."),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing unless something failed."),
            as_json: bool = JsonOption,
            engine: Optional[str] = typer.Option(None, "--engine", help="Where files are read and embedded: local "
                                                 "(this process) or ray (a Ray cluster); default: ingest.engine."),
            address: Optional[str] = typer.Option(None, "--address", help="The Ray cluster for --engine ray: auto "
                                                  "or HOST:PORT; default: setting ingest.ray_address.")):
    """Re-scan the source paths recorded in the index (for cron): same report and exit codes as ingest."""
    settings = settings_for(ctx, index=str(index) if index else None,
                            **{"ingest.engine": engine, "ingest.ray_address": address})
    try:
        report = rag.refresh(settings.index, settings, progress=is_tty() and not quiet and not as_json,
                             wait=wait, log=None if quiet else err)
    except (RagError, OSError) as exc:
        fail(exc)
    except Exception as exc:  # noqa: BLE001 - a bug: reported in one line, the traceback kept in a file
        fail_internal(exc)
    show_report(report, settings.index, quiet, as_json)


@app.command()
def search(ctx: typer.Context,
           query: str = typer.Argument(..., help="What to look for."),
           index: Optional[Path] = IndexOption,
           k: int = typer.Option(5, "--k", "-k", min=1, max=MAX_K, help="Number of passages."),
           as_json: bool = JsonOption):
    """Find the passages that best match QUERY."""
    require_text(query, "QUERY")
    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        hits = open_knowledge_base(settings).search(query, k=k)
    except RagError as exc:
        fail(exc)
    if as_json:
        print_json({"query": query, "hits": hits})
    else:
        print_hits(hits)


@app.command()
def ask(ctx: typer.Context,
        question: str = typer.Argument(..., help="A question in plain words."),
        index: Optional[Path] = IndexOption,
        no_adapter: bool = NoAdapterOption,
        as_json: bool = JsonOption,
        no_log: bool = typer.Option(False, "--no-log", help="Do not record this answer in the interaction log."),
        show_id: bool = typer.Option(False, "--show-id", help="Print the answer's log id (for rag feedback).")):
    """Answer QUESTION from the documents, citing them; says so when they don't answer it. The answer is logged
    (its id is in --json, or printed with --show-id) unless --no-log."""
    require_text(question, "QUESTION")
    settings = settings_for(ctx, index=str(index) if index else None, **{"log.enabled": False if no_log else None})
    try:
        kb = open_knowledge_base(settings, use_adapter=not no_adapter)
        kb.channel = "cli"
        if as_json:
            print_json(kb.ask(question))
            return
        answer = stream_answer(kb.stream(question))
    except RagError as exc:
        fail(exc)
    print_sources(answer)
    if show_id:
        typer.echo(f"id: {answer.id or '(not logged)'}")


@app.command()
def chat(ctx: typer.Context, index: Optional[Path] = IndexOption, no_adapter: bool = NoAdapterOption,
         no_log: bool = typer.Option(False, "--no-log", help="Do not record the answers in the interaction log."),
         show_id: bool = typer.Option(False, "--show-id", help="Print each answer's log id (for rag feedback).")):
    """Ask questions one after another; follow-ups use the conversation. Empty line or Ctrl-D quits."""
    settings = settings_for(ctx, index=str(index) if index else None, **{"log.enabled": False if no_log else None})
    try:
        kb = open_knowledge_base(settings, use_adapter=not no_adapter)
        kb.channel = "cli"
    except RagError as exc:
        fail(exc)
    history: list[dict] = []
    while True:
        try:
            question = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            break
        if not question:
            break
        typer.echo("rag> ", nl=False)
        try:
            answer = stream_answer(kb.stream(question, history))
        except RagError as exc:
            err(f"error: {exc}")
            continue
        print_sources(answer)
        if show_id:
            typer.echo(f"id: {answer.id or '(not logged)'}")
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


@app.command(name="eval")
def evaluate(ctx: typer.Context,
             questions: Path = typer.Argument(..., help="Question file (JSONL: question, answers, gold_docs, kind)."),
             index: Optional[Path] = IndexOption,
             retrieval_only: bool = typer.Option(False, "--retrieval-only",
                                                 help="Skip answering; retrieval metrics only."),
             limit: int = typer.Option(0, "--limit", min=0, help="Use only the first N questions."),
             out: Optional[Path] = typer.Option(None, "--out", help="Write the metrics and every answer as JSON here."),
             ab: bool = typer.Option(False, "--ab", help="Answer twice, with and without the adapter, side by side."),
             split: str = typer.Option("all", "--split", help="Questions of one split only: tune, test or all."),
             no_adapter: bool = NoAdapterOption,
             as_json: bool = JsonOption):
    """Measure retrieval (hit@1/3/5, MRR), answers, citations and refusals on a question file.

    Rates come with 95 % bootstrap intervals; a split file is reported per split (tune, test) too."""
    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        qs = select_split(read_questions(questions), split)[: limit or None]
        kb = open_knowledge_base(settings, use_adapter=not no_adapter)
        result = {"questions": str(questions), "index": str(settings.index),
                  "retrieval": evaluate_retrieval(kb, qs)}
        if not retrieval_only:
            progress = None if as_json else lambda i, n, r: err(f"  {i}/{n} {r.id} "
                                                                 f"{'refused' if r.refused else 'answered'}")
            runs = {"adapter": kb, "base": open_knowledge_base(settings, use_adapter=False)} if ab else {"": kb}
            for name, knowledge_base in runs.items():
                label = f"answers ({name}: {knowledge_base.answerer.generator.adapter or 'no adapter'})" if name \
                    else "answers"
                result[label], result[f"records {name}".strip()] = evaluate_answers(knowledge_base.ask, qs, progress)
            if ab:  # the paired difference adapter − base: an interval holding 0 means no measurable difference
                result["difference intervals"] = bootstrap_intervals(result["records adapter"], result["records base"])
    except RagError as exc:
        fail(exc)
    if out:
        out.write_text(json.dumps(to_jsonable(result), indent=2) + "\n")
    if as_json:
        print_json(result)
    else:
        print_eval_tables(result)


@app.command()
def calibrate(ctx: typer.Context,
              questions: List[Path] = typer.Argument(
                  ..., help="Labelled training-side files: questions (unanswerable ones have no gold_docs) or training "
                  "pairs (doc); a split evaluation file is refused."),
              index: Optional[Path] = IndexOption,
              out: Path = typer.Option(..., "--out", help="Where to write the evidence model (JSON)."),
              max_false_refusal: float = typer.Option(0.1, help="Refusals allowed among answerable questions."),
              threshold: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Use this threshold (chosen "
                                                        "on the tune splits: bench/answerability.py) instead of "
                                                        "--max-false-refusal's on the fitting questions."),
              lead_score: bool = typer.Option(False, "--lead-score", help="Also read the lead sentence's score "
                                              "(needs a gate given the embedder).")):
    """Fit the refusal model on labelled training-side questions; point generation.evidence_model at the result."""
    settings = settings_for(ctx, index=str(index) if index else None)
    gen = settings.generation
    try:
        kb = open_knowledge_base(settings)
        labelled = [q for path in questions for q in read_labelled(path)]
        model = calibrate_evidence(kb.search, labelled, max_false_refusal, gen.passages,
                                   max(gen.passages, gen.rerank_candidates) if gen.rerank else gen.passages,
                                   settings.answering, kb.embedder.embed if lead_score else None, threshold)
    except RagError as exc:
        fail(exc)
    model.fitted_on["data"] = [str(p) for p in questions]
    model.save(out)
    typer.echo(f"wrote {out}: threshold {model.threshold}, fitted on {model.fitted_on}")


@app.command()
def serve(ctx: typer.Context,
          index: Optional[Path] = IndexOption,
          host: Optional[str] = typer.Option(None, "--host", help="Address to listen on (default 127.0.0.1)."),
          port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="Port (default 8000)."),
          no_adapter: bool = NoAdapterOption,
          replicas: Optional[int] = typer.Option(None, "--replicas", min=1, max=64,
                                                 help="Answering processes behind the port, each with its own "
                                                 "models and queue (default 1: this process answers).")):
    """Serve the OpenAI-compatible API, /search, /ask and a chat page at /."""
    settings = settings_for(ctx, index=str(index) if index else None, **{"server.host": host, "server.port": port,
                                                                         "server.replicas": replicas})
    if settings.server.replicas > 1:
        from rag.server.replicas import serve_replicas

        err(f"serving {settings.index} on http://{settings.server.host}:{settings.server.port}/ "
            f"with {settings.server.replicas} replicas")
        try:
            code = serve_replicas(settings, settings.server.replicas, use_adapter=not no_adapter, log=err)
        except RagError as exc:
            fail(exc)
        raise typer.Exit(code)
    try:
        kb = open_knowledge_base(settings, use_adapter=not no_adapter)
    except RagError as exc:
        fail(exc)
    from rag.server import serve as run_server

    err(f"serving {settings.index} on http://{settings.server.host}:{settings.server.port}/")
    run_server(kb, settings.server.host, settings.server.port)


@app.command(name="tune-data")
def tune_data(ctx: typer.Context,
              pairs: Optional[List[Path]] = typer.Argument(
                  None, help="Question/answer pair files (question, answer, doc, support)."),
              out: Path = typer.Option(..., "--out", help="Where to write the training examples (JSONL)."),
              corpus: Optional[Path] = typer.Option(None, help="Derive more pairs by rule from this folder's documents "
                                                    "(definitions, headings, figures)."),
              derived_per_kind: int = typer.Option(60, min=0, help="At most this many derived pairs of each kind."),
              target: TrainingTarget = typer.Option("support",
                                         help="What the model learns to say: 'support' (the passage's own answering "
                                         "sentence) or 'answer' (the pair's answer in other words)."),
              index: Optional[Path] = IndexOption,
              feedback: bool = typer.Option(False, "--feedback", help="Add examples from the interaction log: "
                                            "thumbs-up answers and supported corrections."),
              since: Optional[str] = typer.Option(None, "--since", help="With --feedback: only answers from this "
                                                  "span (7d, 12h) or date."),
              held_out: Optional[List[Path]] = typer.Option(None, "--held-out", help="With --feedback: a question "
                                                            "file never to train on (besides the bundled ones).")):
    """Build LoRA training examples: each pair with the passages the real retriever returns (and, with
    --feedback, the judged answers of the interaction log)."""
    from rag.tuning.data import build_examples, read_pairs, write_examples
    from rag.tuning.derived import derived_pairs

    from .learning import feedback_training_examples

    pairs = pairs or []
    if not pairs and not corpus and not feedback:
        fail(RagError("nothing to build from: give pair files, --corpus, or --feedback"))
    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        kb = open_knowledge_base(settings)
        derived = derived_pairs(corpus, derived_per_kind) if corpus else []
        examples = build_examples(read_pairs(pairs) + derived, kb, target=target.value) if pairs or derived else []
        report = feedback_training_examples(kb, settings, since, held_out or [], examples) if feedback else None
        examples += report.pop("examples") if report else []
        card = write_examples(examples, out, pairs + ([corpus] if corpus else []), target.value, feedback=report)
    except (RagError, OSError, ValueError, KeyError) as exc:
        fail(exc)
    typer.echo(json.dumps(card, indent=2))


@app.command()
def tune(ctx: typer.Context,
         data: Path = typer.Option(..., "--data", help="Training examples from 'rag tune-data'."),
         out: Path = typer.Option(..., "--out", help="Adapter folder to write (a standard PEFT adapter)."),
         merge: Optional[Path] = typer.Option(None, "--merge", help="Also write merged full weights here."),
         rank: int = typer.Option(8, help="LoRA rank."),
         alpha: int = typer.Option(16, help="LoRA alpha."),
         top_layers: int = typer.Option(0, min=0, help="Adapt only the top N decoder layers (0: all); faster steps."),
         learning_rate: float = typer.Option(3e-4, help="Peak learning rate."),
         epochs: int = typer.Option(1, help="Passes over the training examples."),
         max_steps: int = typer.Option(0, help="Stop after this many optimiser steps (0: no bound)."),
         max_minutes: float = typer.Option(25.0, help="Wall-clock bound for training."),
         seed: int = typer.Option(0, help="Random seed."),
         bf16: bool = typer.Option(False, "--bf16", help="bfloat16 autocast: faster on CPUs with BF16 support.")):
    """Train a LoRA adapter for the generator on grounded answering (loss on answer tokens only)."""
    from rag.generation import resolve_model
    from rag.tuning import TrainingConfig, merge_adapter, train

    settings = settings_for(ctx)
    try:
        examples = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
        base = resolve_model(settings.generation.model, settings.cache_dir)
        config = TrainingConfig(rank=rank, alpha=alpha, top_layers=top_layers, learning_rate=learning_rate,
                                epochs=epochs, max_steps=max_steps, max_minutes=max_minutes, seed=seed, bf16=bf16)
        card = train(examples, base, out, config, progress=err)
        if merge:
            merge_adapter(base, out, merge)
    except (RagError, OSError, ValueError, KeyError) as exc:
        fail(exc)
    typer.echo(f"wrote {out}: {card['steps']} steps, best validation loss {card['best_validation_loss']}, "
               f"{card['wall_seconds']:.0f}s ({card['stopped']})" + (f"; merged weights in {merge}" if merge else ""))


@app.command()
def info(ctx: typer.Context, index: Optional[Path] = IndexOption, as_json: bool = JsonOption):
    """Show what an index holds and how it was built."""
    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        details = open_knowledge_base(settings).info()
    except RagError as exc:
        fail(exc)
    if as_json:
        print_json(details)
        return
    emb, chunking = details["embedding"], details["chunking"]
    typer.echo(f"index:      {details['index']} (version {details['version']}, created {details['created']})")
    typer.echo(f"documents:  {details['counts'].get('documents')}   chunks: {details['counts'].get('chunks')}")
    typer.echo(f"embedding:  {emb['model']} ({emb['dimension']}-d, {emb['metric']}, normalised) "
               f"fingerprint {emb['fingerprint'][:12]}")
    typer.echo(f"chunking:   {chunking['max_tokens']} tokens, overlap {chunking['overlap_tokens']}")
    typer.echo(f"lexical:    {details['lexical']['kind'] if details['lexical'] else 'off'}")
    typer.echo(f"roots:      {', '.join(details['roots'])}")


# Commands kept in their own modules; each module's register(app) adds them.
from . import selection  # noqa: E402
from . import learning  # noqa: E402
from . import ranking  # noqa: E402

selection.register(app)
learning.register(app)
ranking.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
