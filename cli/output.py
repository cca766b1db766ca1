"""How the CLI shows results: JSON for scripts, short readable text for people."""
from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import asdict, is_dataclass
from pathlib import Path

import typer


def to_jsonable(value):
    if is_dataclass(value):
        return to_jsonable(value.to_dict() if hasattr(value, "to_dict") else asdict(value))
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def print_json(value) -> None:
    typer.echo(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False))


def display_path(path: str) -> str:
    """Relative to the working directory when inside it: shorter and clickable."""
    try:
        return os.path.relpath(path) if Path(path).is_relative_to(Path.cwd()) else path
    except ValueError:
        return path


def location(source: str, section: str, page: int | None) -> str:
    parts = [display_path(source)]
    if section:
        parts.append(section)
    if page is not None:
        parts.append(f"page {page}")
    return " — ".join(parts)


def print_hits(hits) -> None:
    if not hits:
        typer.echo("No passages found.")
    for number, hit in enumerate(hits, start=1):
        typer.echo(f"[{number}] {hit.title}  (score {hit.score:.4f}, cosine {hit.similarity:.3f})")
        typer.echo(f"    {location(hit.source, hit.section, hit.page)}")
        snippet = " ".join(hit.text.split())
        snippet = snippet if len(snippet) <= 320 else snippet[:317] + "..."
        typer.echo(textwrap.indent(textwrap.fill(snippet, width=96), "    "))
        typer.echo("")


def err(message: str) -> None:
    typer.echo(message, err=True)


def is_tty() -> bool:
    return sys.stderr.isatty()


def stream_answer(events):
    """Print the answer's text as it arrives (a refusal is text too); return the final `Answer`."""
    answer = None
    for event in events:
        if isinstance(event, str):
            typer.echo(event, nl=False)
        else:
            answer = event
    typer.echo("")
    return answer


def print_sources(answer) -> None:
    if answer.refused:
        if answer.hits:
            typer.echo("\nClosest passages (not enough to answer):")
            for hit in answer.hits[:3]:
                typer.echo(f"  - {location(hit.source, hit.section, hit.page)}")
        return
    if answer.citations:
        typer.echo("\nSources:")
        for c in answer.citations:
            typer.echo(f"  [{c.n}] {c.title} — {location(c.source, c.section, c.page)}")


def _cell(value) -> str:
    return "-" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def print_table(title: str, rows: dict, columns: list[str]) -> None:
    typer.echo(f"\n{title}")
    widths = [max(8, len(c) + 2) for c in columns]
    typer.echo(f"  {'kind':<14}" + "".join(f"{c:>{w}}" for c, w in zip(columns, widths)))
    for name, metrics in rows.items():
        typer.echo(f"  {name:<14}" + "".join(f"{_cell(metrics.get(c)):>{w}}" for c, w in zip(columns, widths)))


ANSWER_COLUMNS = ["n", "correct", "phrase_recall", "citation_precision", "unanswerable_refused", "false_refusal",
                  "lead_correct", "mean_words", "seconds_per_question"]
INTERVAL_COLUMNS = ["correct", "citation_precision", "unanswerable_refused", "false_refusal", "lead_correct"]


def print_intervals(title: str, rows: dict) -> None:
    """95 % bootstrap intervals, one row per run or split."""
    typer.echo(f"\n{title}")
    typer.echo(f"  {'':<14}" + "".join(f"{c:>22}" for c in INTERVAL_COLUMNS))
    for name, intervals in rows.items():
        cells = [f"[{i[0]:+.3f}, {i[1]:+.3f}]" if "difference" in name and i else
                 f"[{i[0]:.3f}, {i[1]:.3f}]" if i else "–" for i in (intervals.get(c) for c in INTERVAL_COLUMNS)]
        typer.echo(f"  {name:<14}" + "".join(f"{c:>22}" for c in cells))


def print_eval_tables(result: dict) -> None:
    retrieval = result["retrieval"]
    print_table("Retrieval (answerable questions; gold document among the top hits)",
                {**retrieval["by_kind"], "overall": retrieval["overall"]}, ["n", "hit@1", "hit@3", "hit@5", "mrr"])
    runs = {k: v for k, v in result.items() if k.startswith("answers")}
    for label, answers in runs.items():
        by_split = {f"split {name}": part["overall"] for name, part in answers.get("by_split", {}).items()}
        print_table(label.capitalize(), {**answers["by_kind"], **by_split, "overall": answers["overall"]},
                    ANSWER_COLUMNS)
        print_intervals(f"95 % intervals ({label})", {
            **{f"split {name}": part["intervals"] for name, part in answers.get("by_split", {}).items()},
            "overall": answers["intervals"]})
    if "difference intervals" in result:
        print_intervals("Adapter − base, paired 95 % intervals (holding 0: no measurable difference)",
                        {"difference": result["difference intervals"]})
    if len(runs) == 2:
        (a_label, a), (b_label, b) = runs.items()
        difference = {c: (a["overall"][c] - b["overall"][c]) if isinstance(a["overall"].get(c), float)
                      and isinstance(b["overall"].get(c), float) else None for c in ANSWER_COLUMNS}
        print_table("Overall, side by side", {"adapter": a["overall"], "base": b["overall"],
                                              "difference": difference}, ANSWER_COLUMNS)
