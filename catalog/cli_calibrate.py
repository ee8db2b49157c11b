"""``aislelens catalog calibrate``: choose the kiosk's decision thresholds for a precision."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .adapter import calibrate_catalog
from .calibration import DEFAULT_TARGET
from .cli_common import db_option, echo_list, open_embedder, progress_bar, settings_of
from .decisions import describe_found
from .labelled import labelled_samples, require_enough


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
        embedder, _ = open_embedder(db, None, None)
        try:
            scans, skipped = labelled_samples(
                db, queries, embedder, settings=settings, progress=progress_bar
            )
        finally:
            embedder.close()
    if scans is not None and queries is not None:
        echo_list("skipped", skipped)
        skipped = []
        require_enough(scans, queries)
    t = calibrate_catalog(db, scans=scans, target=target, settings=settings)
    if as_json:
        click.echo(json.dumps(json.loads(t.to_json()), ensure_ascii=False))
        return
    click.echo(f"thresholds stored in {db}: {t.source}")
    click.echo(f"  {describe_found(t)}")
    click.echo(f"  'No match' below a score of {t.min_score:.3f}")
    echo_list("skipped", skipped)
