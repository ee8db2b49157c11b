"""``aislelens catalog search`` and ``aislelens catalog eval``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .cli_common import (
    db_option,
    echo_list,
    open_embedder,
    open_text_embedder,
    progress_bar,
    settings_of,
)
from .errors import BundleMismatchError
from .evaluate import evaluate_queries, read_queries
from .finder import open_finder
from .progress import LineProgress, ProgressBar
from .types import MatchKind, Product, TextHit

#: how a text hit matched, as the result line says it
_HOW = {
    MatchKind.WORD: "word",
    MatchKind.INNER: "inside a word",
    MatchKind.TYPO: "spelling",
    MatchKind.LOOKS: "looks like it",
}


def _price(p: Product) -> str:
    return f"{p.price:.2f} {p.currency}" if p.price is not None else "no price"


def _print_matches(label: str, result: Any) -> None:
    click.echo(f"{label}  (margin {result.margin:.3f})")
    for rank, m in enumerate(result.matches, start=1):
        p = m.product
        click.echo(
            f"  {rank:>2}. {m.score:.3f}  {p.sku:<16} {p.name}  {_price(p)}  {p.aisle or 'no aisle'}"
        )


def _text_line(hit: TextHit) -> str:
    p = hit.product
    how = _HOW[hit.kind]
    if hit.corrected:
        how += f": {', '.join(hit.corrected)}"
    return (
        f"{p.sku:<16} {p.name}  {_price(p)}  {p.aisle or 'no aisle'}  "
        f"({p.category or 'no category'}; {how})"
    )


def _text_json(hit: TextHit) -> dict[str, Any]:
    return {
        **hit.product.as_listing(),
        "match": hit.kind.value,
        "edits": hit.edits,
        "corrected": list(hit.corrected),
    }


def _stderr_progress(total: int, description: str) -> ProgressBar:
    """tqdm on a terminal; elsewhere (a log, a pipe, a test) a line every tenth of the work,
    so a long run with --json is never silent and stdout stays pure JSON."""
    if sys.stderr.isatty():
        return progress_bar(total, description)
    return LineProgress(total, description, lambda line: click.echo(line, err=True))


@click.command()
@db_option
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--text",
    help="Search SKUs, names, categories and descriptions instead of photos: whole words and "
    "word beginnings first, then words inside longer ones, then close misspellings.",
)
@click.option("--k", "k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--category", help="Only products of this category (image search).")
@click.option("--in-stock", is_flag=True, help="Only products in stock (image search).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def search(
    ctx: click.Context,
    db: Path,
    images: tuple[Path, ...],
    text: str | None,
    k: int,
    category: str | None,
    in_stock: bool,
    as_json: bool,
) -> None:
    """Find the products that look like IMAGE (or match --text).

    Each result shows the price and the aisle; a text search that finds nothing says so on
    stderr and exits with status 1.

    \b
    Examples:
      aislelens catalog search --db store.db photo.jpg --k 5
      aislelens catalog search --db store.db --text "granny smith" --json
      aislelens catalog search --db store.db --text vollmlch
    """
    if text is not None and not text.strip():
        raise click.UsageError("--text needs a word to look for")
    if bool(images) == bool(text):
        raise click.UsageError("give IMAGE files or --text, not both")
    if text and (category or in_stock):
        raise click.UsageError(
            "--category and --in-stock filter an image search; for text, use "
            "`aislelens catalog list --text … --category … --in-stock`"
        )
    text_embedder = open_text_embedder(db) if text else None
    finder = open_finder(db, settings=settings_of(ctx), text_embedder=text_embedder)
    try:
        if text:
            hits = finder.find_text(text, k)
            if as_json:
                click.echo(json.dumps([_text_json(h) for h in hits], ensure_ascii=False))
            for hit in [] if as_json else hits:
                click.echo(_text_line(hit))
            if not hits:
                click.echo(f"no products match '{text}'", err=True)
                ctx.exit(1)
            return
        embedder, _ = open_embedder(db, None, None)
        if finder.bundle_id and embedder.model_id != finder.bundle_id:
            raise BundleMismatchError(
                f"{db}: vectors made by {finder.bundle_id}, but its "
                f"bundle now loads as {embedder.model_id}"
            )
        result = embedder.embed_files(
            [str(p) for p in images], fast=settings_of(ctx).fast_preprocess
        )
        out = []
        for vector, i in zip(result.vectors, result.ok, strict=True):
            res = finder.search_vector(vector, k, category=category, in_stock_only=in_stock)
            if as_json:
                out.append(
                    {
                        "image": str(images[i]),
                        "margin": round(res.margin, 4),
                        "timings_ms": {n: round(v, 3) for n, v in res.timings_ms.items()},
                        "matches": [
                            {**m.product.as_listing(), "score": round(m.score, 4)}
                            for m in res.matches
                        ],
                    }
                )
            else:
                _print_matches(str(images[i]), res)
        if as_json:
            click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        echo_list("skipped", [f"{images[i]}: {why}" for i, why in result.failed])
        if result.failed:
            ctx.exit(1)
    finally:
        finder.close()


@click.command("eval")
@db_option
@click.argument("queries", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--k",
    "k",
    default=10,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Results per search when timing.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def eval_cmd(ctx: click.Context, db: Path, queries: Path, k: int, as_json: bool) -> None:
    """Recall@1/5/10, MRR, per-category recall, confusions and latency on labelled photos.

    QUERIES is a CSV with image and sku columns (paths absolute or relative to it; other
    columns are ignored). Progress goes to stderr, so with --json stdout is the JSON alone.

    \b
    Example:
      aislelens catalog eval --db store.db shelf-photos.csv --json
    """
    settings = settings_of(ctx)
    items, issues = read_queries(queries)
    finder = open_finder(db, settings=settings)
    try:
        embedder, _ = open_embedder(db, None, None)
        report = evaluate_queries(
            finder, embedder, items, k=k, settings=settings, progress=_stderr_progress
        )
    finally:
        finder.close()
    report.skipped = [(i.row, str(i)) for i in issues] + report.skipped
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    click.echo(
        f"{report.n} queries against {report.catalog_size} reference vectors "
        f"({report.index_kind} search)"
    )
    click.echo(
        f"  Recall@1 {report.recall_at_1:.3f}  Recall@5 {report.recall_at_5:.3f}  "
        f"Recall@10 {report.recall_at_10:.3f}  MRR {report.mrr:.3f}"
    )
    click.echo(
        f"  latency p50 {report.latency_ms['p50']:.2f} ms  "
        f"p95 {report.latency_ms['p95']:.2f} ms (search + product lookup, k={k})"
    )
    for cat, figures in report.per_category.items():
        click.echo(f"  {cat:<20} n={figures['n']:<5} Recall@1 {figures['recall_at_1']:.3f}")
    d = report.decisions
    t = d.thresholds
    click.echo(
        f"kiosk decisions (score ≥ {t.confident_score:.3f} and margin ≥ "
        f"{t.confident_margin:.3f} for 'found', score < {t.min_score:.3f} for 'no match'; "
        f"{t.source}):"
    )
    n = max(1, d.n)
    click.echo(
        f"  We found it       {d.found:>5} ({d.found / n:.0%})  right {d.found_correct}"
        f" ({d.found_precision:.1%})"
    )
    click.echo(
        f"  Is it one of these? {d.not_sure:>3} ({d.not_sure / n:.0%})  right one among the "
        f"candidates {d.not_sure_in_candidates}"
    )
    click.echo(f"  No match          {d.no_match:>5} ({d.no_match / n:.0%})")
    echo_list(
        "most confused (right product → the one found first: times)",
        [
            f"{c.sku} {c.name or '(not in the catalog)'} → {c.found_sku} {c.found_name}: {c.count}"
            for c in report.confused
        ],
    )
    echo_list("skipped", [f"row {r}: {why}" for r, why in report.skipped])
