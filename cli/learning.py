"""`rag feedback`, `rag stats` and `rag adapters`: judging logged answers, reading the log, and putting a
retrained adapter in use behind the evaluation gate."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer

from rag.errors import RagError
from rag.interactions import InteractionLog, log_from_settings
from rag.interactions.stats import parse_since

from .output import err, print_json

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")
EXIT_REFUSED = 1


def _main():
    from . import main  # the command helpers (settings, one-line failures) live there; imported late: no cycle

    return main


def since_option(text: str | None) -> datetime | None:
    """`--since`: the stats window's start (rag.interactions.stats.parse_since); a bad value is one line."""
    if not text:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise RagError(f"--since {exc}") from None


def open_log(settings) -> InteractionLog:
    log = log_from_settings(settings)
    if log is None:
        raise RagError("the interaction log is off (log.enabled = false); turn it on to give feedback or read stats")
    return log


def feedback(ctx: typer.Context,
             interaction_id: str = typer.Argument(..., metavar="ID", help="The answer's id (rag ask --show-id)."),
             good: Optional[bool] = typer.Option(None, "--good/--bad", help="The answer was right / wrong."),
             correction: Optional[str] = typer.Option(None, "--correction", help="What the answer should have said."),
             source: Optional[str] = typer.Option(None, "--source", metavar="FILE[#PAGE]",
                                                  help="The document (and page) the correction rests on."),
             note: Optional[str] = typer.Option(None, "--note", help="Anything else worth knowing."),
             as_json: bool = JsonOption):
    """Judge a logged answer; the latest judgement of each field counts, every one is kept."""
    main = _main()
    settings = main.settings_for(ctx)
    try:
        verdict = open_log(settings).feedback(interaction_id, good=good, correction=correction, source=source,
                                              note=note)
    except RagError as exc:
        main.fail(exc)
    if as_json:
        print_json(verdict)
        return
    judged = {True: "good", False: "bad", None: "not rated"}[verdict["good"]]
    extra = "; correction stored" + (f" (source {verdict['source']})" if verdict["source"] else "") \
        if verdict["correction"] else ""
    typer.echo(f"feedback on {interaction_id}: {judged}{extra} (judged {verdict['count']} time"
               f"{'s' if verdict['count'] != 1 else ''})")


def stats(ctx: typer.Context,
          since: Optional[str] = typer.Option(None, "--since", help="Only answers from this span (7d, 12h) or date."),
          gaps: int = typer.Option(10, "--gaps", min=0, help="Corpus gaps to print (all with --json)."),
          as_json: bool = JsonOption):
    """Questions, refusals, thumbs-down, latency per stage, adapters, most-cited documents, and the corpus gaps:
    refused or thumbs-down questions grouped by meaning."""
    from rag.embedding import embedder_from_settings

    main = _main()
    settings = main.settings_for(ctx)
    try:
        log = open_log(settings)
        embedder = embedder_from_settings(settings)
        report = log.stats(since_option(since), embed=embedder.embed, embedder_id=embedder.fingerprint)
    except RagError as exc:
        main.fail(exc)
    report = {"log": str(log.path), "adapter_configured": settings.generation.adapter, **report}
    if as_json:
        print_json(report)
    else:
        print_stats(report, gaps)


def _rate(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def print_stats(report: dict, gaps: int) -> None:
    echo = typer.echo
    echo(f"log:         {report['log']} ({report['questions']} answers"
         + (f", {report['first']} to {report['last']}" if report["first"] else "") + ")")
    echo(f"questions:   {report['questions']}   refused: {_rate(report['refusal_rate'])}   thumbs-down: "
         f"{_rate(report['thumbs_down_rate'])} of {report['judged']} judged   corrections: {report['corrections']}")
    for stage, figures in report["latency_s"].items():
        echo(f"latency:     {stage:<12} p50 {figures['p50']:.3f}s   p95 {figures['p95']:.3f}s")
    echo(f"configured:  {report['adapter_configured'] or 'no adapter (base model)'}")
    for adapter in report["adapters"][:5]:
        echo(f"adapter:     {Path(adapter['adapter']).name or 'none'} ({(adapter['hash'] or '-')[:12]}): "
             f"{adapter['answers']} answers, thumbs-down {_rate(adapter['thumbs_down_rate'])}, "
             f"last {adapter['last_used']}")
    for document in report["most_cited"]:
        echo(f"cited:       {document['citations']:>5}  {document['source']}")
    shown = (report["gaps"] or [])[:gaps]
    if shown:
        echo("corpus gaps (refused or thumbs-down questions, grouped by meaning; write these next):")
    for gap in shown:
        echo(f"  {gap['count']:>5}x  {gap['questions']} question{'s' if gap['questions'] != 1 else ''} "
             f"({gap['refused']} refused, {gap['thumbs_down']} thumbs-down)")
        for example in gap["examples"]:
            echo(f"         - {example}")


adapters_app = typer.Typer(no_args_is_help=True, help="List, promote (behind the evaluation gate) and roll back "
                                                      "the adapter in use.")


@adapters_app.command("list")
def adapters_list(ctx: typer.Context, as_json: bool = JsonOption):
    """The promoted adapters, which one is in use, and what the settings point at."""
    from rag.tuning.registry import AdapterRegistry

    main = _main()
    settings = main.settings_for(ctx)
    registry = AdapterRegistry()
    try:
        entries = registry.entries()
        current = registry.current()
    except RagError as exc:
        main.fail(exc)
    report = {"registry": str(registry.root), "promoted": current or None,
              "configured": settings.generation.adapter, "adapters": entries}
    if as_json:
        print_json(report)
        return
    typer.echo(f"registry:   {registry.root}")
    typer.echo(f"in use:     {settings.generation.adapter or 'no adapter (base model)'}"
               + ("" if current else "  (nothing promoted: the bundled adapter)"))
    for entry in entries:
        card = ", ".join(f"{k} {v}" for k, v in entry["card"].items() if k != "data_sha256")
        typer.echo(f"{'*' if entry['in_use'] else ' '} {entry['name']}" + (f"  ({card})" if card else ""))


@adapters_app.command("promote")
def adapters_promote(ctx: typer.Context,
                     name: str = typer.Argument(..., help="An adapter folder (rag tune --out) or a registry name."),
                     force: bool = typer.Option(False, "--force", help="Promote even if the gate refuses "
                                                "(logged as forced, with the figures)."),
                     index: Optional[Path] = typer.Option(None, "--index", "-i", help="Index the gate answers from."),
                     as_json: bool = JsonOption):
    """Run the evaluation gate (candidate vs the adapter in use, side by side) and, if it passes, put NAME in use.
    Exit 1 when the gate refuses, naming the figures."""
    from rag.tuning.feedback import held_out_feedback
    from rag.tuning.gate import feedback_questions, gate_questions, knowledge_base_evaluation, run_gate, same_adapter
    from rag.tuning.registry import AdapterRegistry

    main = _main()
    settings = main.settings_for(ctx, index=str(index) if index else None)
    registry = AdapterRegistry()
    candidate = Path(name) if Path(name).is_dir() else registry.folder(name)
    in_use = settings.generation.adapter
    try:
        if not (candidate / "adapter_config.json").is_file():
            raise RagError(f"{name}: no adapter there (no adapter_config.json); give the --out folder of 'rag tune' "
                           "or a name from 'rag adapters list'")
        if same_adapter(str(candidate), in_use):
            raise RagError(f"{name} is already the adapter in use ({in_use})")
        log = log_from_settings(settings)
        held_out = held_out_feedback(log, settings.learning.held_out_share) if log else []
        sets = {"held-out questions": gate_questions(settings), "held-out feedback": feedback_questions(held_out)}
        verdict = gate(str(candidate), in_use, sets, settings, main.open_knowledge_base, run_gate,
                       knowledge_base_evaluation)
        if not verdict.passed and not force:
            report_verdict(verdict, candidate, in_use, as_json)
            raise typer.Exit(EXIT_REFUSED)
        if not verdict.passed:
            err(f"warning: promoting {name} although the gate refused it (--force): {'; '.join(verdict.failures)}")
        target = registry.promote(candidate, verdict.to_dict(), forced=not verdict.passed)
    except RagError as exc:
        main.fail(exc)
    report_verdict(verdict, candidate, in_use, as_json, promoted=target)


def gate(candidate, in_use, sets, settings, open_knowledge_base, run, evaluation):
    """The gate's verdict (a seam: tests give an evaluation that needs no model)."""
    return run(candidate, in_use, sets, settings.learning.gate_margin, evaluation(settings, open_knowledge_base))


def report_verdict(verdict, candidate: Path, in_use: str, as_json: bool, promoted: Path | None = None) -> None:
    if as_json:
        print_json({"candidate": str(candidate), "in_use": in_use, "promoted": str(promoted) if promoted else None,
                    **verdict.to_dict()})
        return
    echo = typer.echo if promoted else err
    echo(f"gate: candidate {candidate} vs in use {in_use or 'no adapter'} (margin {verdict.margin})")
    for label, figures in verdict.figures.items():
        for metric, pair in figures.items():
            echo(f"  {label:<20} {metric:<22} candidate {pair['candidate']:.3f}   in use {pair['in_use']:.3f}")
    if promoted:
        echo(f"promoted: {promoted} is now the adapter in use")
    else:
        echo(f"refused: {'; '.join(verdict.failures)} (--force overrides)")


@adapters_app.command("rollback")
def adapters_rollback(ctx: typer.Context):
    """Put back the adapter in use before the last promotion."""
    from rag.tuning.registry import AdapterRegistry

    main = _main()
    registry = AdapterRegistry()
    try:
        restored = registry.rollback()
    except RagError as exc:
        main.fail(exc)
    typer.echo(f"rolled back: {registry.folder(restored) if restored else 'the bundled adapter'} is in use again")


def register(app: typer.Typer) -> None:
    app.command()(feedback)
    app.command()(stats)
    app.add_typer(adapters_app, name="adapters")


def feedback_training_examples(kb, settings, since: str | None, held_out: list[Path], existing: list[dict]) -> dict:
    """`rag tune-data --feedback`: the examples from the log and the report the data card keeps."""
    from rag.tuning.feedback import feedback_examples, guarded_questions

    if kb.log is None:
        raise RagError("--feedback reads the interaction log, which is off (log.enabled = false)")
    examples, report = feedback_examples(kb.log, kb, since_option(since),
                                         evaluation=guarded_questions(settings, held_out), existing=existing)
    for unsupported in report.unsupported:
        err(f"left out: the correction on {unsupported['id']} ({unsupported['question']!r}): "
            "no passage supports it")
    return {"examples": examples, "log": str(kb.log.path), **report.to_dict()}
