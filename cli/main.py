"""`rag`: ingest documents, search them, inspect an index."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

import rag
from rag.errors import IndexLockedError, RagError
from rag.settings import Settings

from .output import err, is_tty, print_hits, print_json

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="An offline knowledge assistant for homeowners: ingest documents, search and ask them.")

INDEX_HELP = "Index directory (default: the bundled homeowner index, or RAG_INDEX)."
IndexOption = typer.Option(None, "--index", "-i", help=INDEX_HELP)
JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")

EXIT_OK, EXIT_PARTIAL, EXIT_FAILED = 0, 1, 2


@app.callback()
def main(ctx: typer.Context,
         config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file (or RAG_CONFIG).")):
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


@app.command()
def ingest(ctx: typer.Context,
           paths: List[Path] = typer.Argument(..., help="Files or folders to index (.md .txt .html .pdf)."),
           index: Optional[Path] = IndexOption,
           wait: bool = typer.Option(False, "--wait", help="Wait for another writer instead of failing."),
           quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing unless something failed."),
           as_json: bool = JsonOption):
    """Add, update and remove documents so the index matches PATHS. Exit 0: all indexed;
    1: some files failed, the rest committed; 2: nothing committed."""
    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        report = rag.ingest(paths, settings.index, settings, progress=is_tty() and not quiet and not as_json,
                            wait=wait, log=None if quiet else err)
    except (RagError, OSError) as exc:
        fail(exc)
    if as_json:
        print_json(report)
    elif not quiet or report.failed:
        for path, reason in report.failed:
            err(f"failed: {path}: {reason}")
        if not quiet:
            for path, reason in report.skipped:
                err(f"skipped: {path}: {reason}")
            typer.echo(f"{settings.index}: {report.added} added, {report.updated} updated, {report.renamed} renamed, "
                       f"{report.removed} removed, {report.unchanged} unchanged, {len(report.failed)} failed; "
                       f"{report.chunks} chunks ({report.embedded} embedded) in {report.seconds:.1f}s "
                       f"[version {report.version}]")
    raise typer.Exit(EXIT_PARTIAL if report.failed else EXIT_OK)


@app.command()
def search(ctx: typer.Context,
           query: str = typer.Argument(..., help="What to look for."),
           index: Optional[Path] = IndexOption,
           k: int = typer.Option(5, "--k", "-k", min=1, max=100, help="Number of passages."),
           as_json: bool = JsonOption):
    """Find the passages that best match QUERY."""
    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        hits = rag.open(settings.index, settings).search(query, k=k)
    except RagError as exc:
        fail(exc)
    if as_json:
        print_json({"query": query, "hits": hits})
    else:
        print_hits(hits)


@app.command()
def info(ctx: typer.Context, index: Optional[Path] = IndexOption, as_json: bool = JsonOption):
    """Show what an index holds and how it was built."""
    settings = settings_for(ctx, index=str(index) if index else None)
    try:
        details = rag.open(settings.index, settings).info()
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


if __name__ == "__main__":  # pragma: no cover
    app()
