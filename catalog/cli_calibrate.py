"""``aislelens catalog calibrate``: choose the kiosk's decision thresholds for a precision."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from .adapter import calibrate_catalog
from .calibration import DEFAULT_TARGET, MIN_FOUND, Samples
from .cli_common import db_option, echo_list, open_embedder, progress_bar, settings_of
from .decisions import describe_found
from .errors import CatalogError
from .evaluate import CANDIDATES, embed_queries, read_queries
from .finder import open_finder


@click.command()
@db_option
@click.argument(
    "queries", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--target",
    type=click.FloatRange(0.5, 0.999),
    default=DEFAULT_TARGET,
    show_default=True,
    help="Share of 'We found it' answers that must be right.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the thresholds as JSON.")
@click.pass_context
def calibrate(
    ctx: click.Context, db: Path, queries: Path | None, target: float, as_json: bool
) -> None:
    """Choose when the kiosk says "We found it", for a target precision, and store it.

    Without QUERIES: by cross-validation over the store's own enrolled shots (pessimistic: a
    product's shots are taken out of its prototype and searched). With QUERIES (a CSV with
    image and sku columns, like `eval`): from those labelled photos, best taken on another day
    than the enrolled shots. `catalog index` calibrates by itself; the kiosk uses the stored
    thresholds unless its settings give their own.

    \b
    Examples:
      aislelens catalog calibrate --db store.db
      aislelens catalog calibrate --db store.db checkout-photos.csv --target 0.98
    """
    settings = settings_of(ctx)
    scans = None
    skipped: list[str] = []
    if queries is not None:
        items, issues = read_queries(queries)
        skipped = [str(i) for i in issues]
        finder = open_finder(db, settings=settings)
        if finder.adaptation is None:
            finder.close()
            raise CatalogError(
                f"{db}: no current store adaptation to calibrate (it needs enrolled shots); "
                f"enrol in-store shots and run `aislelens catalog index --db {db}` first"
            )
        embedder = None
        try:
            embedder, _ = open_embedder(db, None, None)
            result = embed_queries(
                embedder, items, settings=settings, progress=progress_bar, label="calibrate"
            )
            skipped += [f"row {items[i].row}: {why}" for i, why in result.failed]
            score, margin, correct, top = [], [], [], []
            for vector, i in zip(result.vectors, result.ok, strict=True):
                found = finder.search_vector(vector, k=CANDIDATES)
                skus = [m.product.sku for m in found.matches]
                score.append(found.matches[0].score if found.matches else -1.0)
                margin.append(found.margin)
                correct.append(bool(skus) and skus[0] == items[i].sku)
                top.append(items[i].sku in skus)
        finally:
            finder.close()
            if embedder is not None:
                embedder.close()
        scans = Samples(
            np.array(score),
            np.array(margin),
            np.array(correct, bool),
            np.array(top, bool),
            f"labelled photos ({queries.name})",
        )
    if scans is not None and len(scans) < MIN_FOUND:
        echo_list("skipped", skipped)
        raise CatalogError(
            f"{queries}: {len(scans)} usable labelled photos, at least {MIN_FOUND} are needed "
            "to calibrate on; the stored thresholds are unchanged"
        )
    t = calibrate_catalog(db, scans=scans, target=target, settings=settings)
    if as_json:
        click.echo(json.dumps(json.loads(t.to_json()), ensure_ascii=False))
        return
    click.echo(f"thresholds stored in {db}: {t.source}")
    click.echo(f"  {describe_found(t)}")
    click.echo(f"  'No match' below a score of {t.min_score:.3f}")
    echo_list("skipped", skipped)
