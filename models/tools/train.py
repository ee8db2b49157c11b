"""Fine-tune an EfficientNet-Lite embedding on labelled retail photos, judged on unseen products.

``aislelens models train`` (export extra). The recipe, chosen to fit two CPU cores:

* the stem and the first ``freeze_blocks`` MBConv blocks stay as ImageNet trained them; their
  output is computed once for the clean photo and ``views`` augmented views of it (crops,
  perspective, light, blur, a hand-coloured occluder, catalog photos pasted on cluttered
  backgrounds) and cached, so training runs only the last blocks and the head;
* the trained blocks learn a normalised-softmax (proxy) metric loss over the products at
  temperature ``temperature``, plus ``distill`` × (1 − cosine) to the pretrained model's own
  embedding of the same view — a teacher that keeps what ImageNet features know about products
  the training never saw;
* everything is seeded (``torch.manual_seed``, one ``numpy`` generator): the same data, recipe
  and machine give the same weights.

A store's catalog is always new products, so the recipe is judged by k-fold *by product*: each
fold trains on the other products and is scored on its own, with the pretrained model scored
in exactly the same way beside it. The bundle (trained on every product) records the recipe and
these figures in its manifest; it is only worth using where the held-out figures say it wins.
"""

from __future__ import annotations

import copy
import csv
import datetime as _dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..bundle import Bundle, Manifest, ModelFile
from ..errors import DatasetError, ImageError
from ..images import load_image
from .export import (
    OPSET,
    ExportError,
    LiteEmbedding,
    _gate,
    _prepare_folder,
    _write_bundle,
    export_onnx,
    load_efficientnet_lite,
    parity,
    torch_preprocess,
)

log = logging.getLogger(__name__)
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the trained weights (stored in the bundle's manifest)."""

    base: str = "efficientnet-lite0"
    freeze_blocks: int = 11  # Lite0: the 192- and 320-channel stages and the head are trained
    views: int = 2  # augmented views per photo, besides the clean one
    epochs: int = 4
    batch: int = 48
    lr: float = 2e-4
    weight_decay: float = 1e-4
    temperature: float = 0.05
    distill: float = 2.0
    seed: int = 0


@dataclass(frozen=True)
class Photo:
    path: Path
    sku: str
    kind: str  # "catalog" or "shot"


@dataclass
class FoldScore:
    """Recall@1/5 of one protocol on held-out products: pretrained vs trained."""

    shots: int
    queries: int = 0
    base_r1: float = 0.0
    base_r5: float = 0.0
    trained_r1: float = 0.0
    trained_r5: float = 0.0


@dataclass
class TrainReport:
    recipe: Recipe
    products: int
    photos: int
    folds: int
    grouped_by: str = "sku"  # the folds hold out whole groups of this products.csv column
    held_out: list[FoldScore] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def wins(self) -> bool:
        """The trained model beats the pretrained one on held-out products in every protocol."""
        return bool(self.held_out) and all(s.trained_r1 > s.base_r1 for s in self.held_out)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recipe": asdict(self.recipe),
            "products": self.products,
            "photos": self.photos,
            "folds": self.folds,
            "folds_grouped_by": self.grouped_by,
            "held_out": [asdict(s) for s in self.held_out],
            "wins_on_held_out_products": self.wins,
            "seconds": round(self.seconds, 1),
        }


# --- data --------------------------------------------------------------------------------------


def read_groups(products_csv: Path, column: str) -> dict[str, str]:
    """sku → the value of ``column`` (e.g. subcategory) in products.csv."""
    with open(products_csv, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if column not in (reader.fieldnames or ()):
            raise DatasetError(f"{products_csv}: no column {column!r} to group the folds by")
        return {r["sku"].strip(): (r[column] or r["sku"]).strip() for r in reader if r.get("sku")}


def read_photos(products_csv: Path, queries_csv: Path | None) -> list[Photo]:
    """Labelled photos: each product's catalog image (products.csv: sku, image) and in-store shots
    (queries.csv: image, sku) of those products. Image paths are relative to their CSV's folder."""
    photos: list[Photo] = []
    for path, kind in ((products_csv, "catalog"), (queries_csv, "shot")):
        if path is None:
            continue
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                reader = csv.DictReader(fh)
                missing = {"sku", "image"} - set(reader.fieldnames or ())
                if missing:
                    raise DatasetError(
                        f"{path}: needs columns sku and image (missing: {', '.join(sorted(missing))})"
                    )
                for row in reader:
                    if row.get("sku") and row.get("image"):
                        photos.append(Photo(path.parent / row["image"], row["sku"].strip(), kind))
        except OSError as exc:
            raise DatasetError(f"{path}: {exc.strerror or exc}") from exc
    catalog = {p.sku for p in photos if p.kind == "catalog"}
    stray = sum(p.sku not in catalog for p in photos)
    if stray:
        log.warning("ignoring %d photos of products that are not in %s", stray, products_csv)
        photos = [p for p in photos if p.sku in catalog]
    skus = {p.sku for p in photos}
    if len(skus) < 4:
        raise DatasetError(f"training needs photos of at least 4 products (got {len(skus)})")
    return photos


def _fit(image: np.ndarray, side: int) -> np.ndarray:
    """Shorter side to ``side`` (INTER_AREA), so augmentation works on small images."""
    h, w = image.shape[:2]
    s = side / min(h, w)
    if s < 1:
        image = cv2.resize(
            image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
        )
    return image


def _paste_on_clutter(
    img: np.ndarray, background: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A catalog photo's white background replaced by a crop of an in-store photo."""
    h, w = img.shape[:2]
    bg = cv2.resize(background, (w, h), interpolation=cv2.INTER_AREA)
    white = (img.min(axis=2) > 235).astype(np.uint8)
    mask = cv2.GaussianBlur(
        cv2.erode(white, np.ones((3, 3), np.uint8)).astype(np.float32), (7, 7), 0
    )
    mask = mask[:, :, None]
    return (img * (1 - mask) + bg * mask).astype(np.uint8)


def augment(img: np.ndarray, rng: np.random.Generator, clutter: np.ndarray | None) -> np.ndarray:
    """One random in-store-like view of a BGR photo (kept square-ish: the model centre-crops)."""
    if clutter is not None and rng.random() < 0.7:
        img = _paste_on_clutter(img, clutter, rng)
    h, w = img.shape[:2]
    # crop: 45–100 % of the area, aspect 3/4–4/3
    area = h * w * rng.uniform(0.45, 1.0)
    ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
    cw, ch = min(w, round(math.sqrt(area * ratio))), min(h, round(math.sqrt(area / ratio)))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = img[y : y + ch, x : x + cw]
    h, w = img.shape[:2]
    # perspective: each corner moves up to 8 % of the side
    if rng.random() < 0.6:
        src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        dst = src + rng.uniform(-0.08, 0.08, (4, 2)).astype(np.float32) * np.array(
            [w, h], np.float32
        )
        m = cv2.getPerspectiveTransform(src, dst)
        img = cv2.warpPerspective(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    # rotation ± 15°
    if rng.random() < 0.5:
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-15, 15), 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    f = img.astype(np.float32)
    # light: brightness, contrast, colour cast, saturation
    f = (f - f.mean()) * rng.uniform(0.7, 1.3) + f.mean() * rng.uniform(0.7, 1.3)
    f *= rng.uniform(0.9, 1.1, 3).astype(np.float32)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.6, 1.3)
    # glare: a bright soft spot
    if rng.random() < 0.25:
        yy, xx = np.mgrid[0:h, 0:w]
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.1, 0.3) * min(h, w)
        f += (np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) * rng.uniform(60, 160))[
            :, :, None
        ]
    # a hand (skin-coloured blob) over an edge
    if rng.random() < 0.35:
        skin = [rng.uniform(90, 170), rng.uniform(120, 190), rng.uniform(170, 235)]
        ow, oh = int(w * rng.uniform(0.2, 0.45)), int(h * rng.uniform(0.25, 0.55))
        ox = int(rng.choice([0, w - ow]))
        oy = int(rng.integers(0, h - oh + 1))
        cv2.ellipse(f, (ox + ow // 2, oy + oh // 2), (ow // 2, oh // 2), 0, 0, 360, skin, -1)
    img = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        k = int(rng.choice([3, 5, 7]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.random() < 0.2:  # motion blur
        k = int(rng.choice([5, 9]))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    if rng.random() < 0.3:  # sensor noise and JPEG
        img = np.clip(img + rng.normal(0, rng.uniform(2, 8), img.shape), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 85))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            img = np.asarray(decoded)
    return img


# --- the split model -----------------------------------------------------------------------------


class Trunk(nn.Module):
    """Stem and the first ``n`` blocks (frozen, cached)."""

    def __init__(self, net: Any, n: int) -> None:
        super().__init__()
        self.net, self.n = net, n

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[: self.n]:
            x = block(x)
        return x


class Tail(nn.Module):
    """The remaining blocks and the head, average-pooled: what training changes."""

    def __init__(self, net: Any, n: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(net._blocks[n:])
        self.conv_head, self.bn1, self.swish = net._conv_head, net._bn1, net._swish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.swish(self.bn1(self.conv_head(x))).mean(dim=(2, 3))


@dataclass
class Cache:
    """Trunk features and pretrained embeddings of every photo's views (view 0 = clean)."""

    feats: torch.Tensor  # [photos, 1 + views, C, H, W] float16
    teacher: torch.Tensor  # [photos, 1 + views, D] float32, L2-normalised
    labels: np.ndarray  # product index per photo
    kinds: list[str]
    skus: list[str]


def build_cache(
    photos: Sequence[Photo],
    net: Any,
    spec: Any,
    recipe: Recipe,
    progress: Progress,
) -> Cache:
    rng = np.random.default_rng(recipe.seed)
    trunk, tail = Trunk(net, recipe.freeze_blocks).eval(), Tail(net, recipe.freeze_blocks).eval()
    images: list[np.ndarray] = []
    kept: list[Photo] = []
    for p in photos:
        try:
            images.append(_fit(load_image(p.path), 2 * spec.input_size[0]))
            kept.append(p)
        except ImageError as exc:
            log.warning("skipping %s: %s", p.path, exc)
    if not kept:
        raise DatasetError("no readable photos to train on")
    shots = [i for i, p in enumerate(kept) if p.kind == "shot"]
    skus = sorted({p.sku for p in kept})
    index = {s: i for i, s in enumerate(skus)}
    feats: list[torch.Tensor] = []
    teacher: list[torch.Tensor] = []
    n = len(kept)
    for i, (img, p) in enumerate(zip(images, kept, strict=True)):
        views = [img]
        for _ in range(recipe.views):
            clutter = None
            if p.kind == "catalog" and shots:
                clutter = images[shots[int(rng.integers(len(shots)))]]
            views.append(augment(img, rng, clutter))
        x = torch_preprocess(views, spec)
        with torch.inference_mode():
            f = trunk(x)
            feats.append(f.half())
            teacher.append(F.normalize(tail(f), dim=1))
        if (i + 1) % 100 == 0 or i + 1 == n:
            progress(f"views of {i + 1}/{n} photos")
    return Cache(
        torch.stack(feats),
        torch.stack(teacher),
        np.array([index[p.sku] for p in kept]),
        [p.kind for p in kept],
        skus,
    )


def train_tail(
    net: Any, cache: Cache, train_idx: np.ndarray, recipe: Recipe, progress: Progress, what: str
) -> Tail:
    """Fine-tune a copy of the tail on the photos ``train_idx``."""
    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed + 1)
    tail = Tail(copy.deepcopy(net), recipe.freeze_blocks)
    # BatchNorm keeps ImageNet's statistics: batches here are small and from one domain.
    tail.eval()
    labels = cache.labels[train_idx]
    classes = np.unique(labels)
    remap = {c: i for i, c in enumerate(classes)}
    y_all = torch.as_tensor([remap[c] for c in labels])
    # proxies start at each product's mean pretrained embedding (clean views)
    t0 = cache.teacher[train_idx, 0]
    proxies = nn.Parameter(
        F.normalize(torch.stack([t0[y_all == i].mean(0) for i in range(len(classes))]), dim=1)
    )
    groups: list[dict[str, Any]] = [
        {"params": list(tail.parameters())},
        {"params": [proxies], "lr": recipe.lr * 10},
    ]
    opt = torch.optim.AdamW(
        groups,
        lr=recipe.lr,
        weight_decay=recipe.weight_decay,
    )
    steps = recipe.epochs * math.ceil(len(train_idx) / recipe.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[recipe.lr, recipe.lr * 10], total_steps=steps, pct_start=0.15
    )
    nviews = cache.feats.shape[1]
    for epoch in range(recipe.epochs):
        order = rng.permutation(len(train_idx))
        total = 0.0
        for start in range(0, len(order), recipe.batch):
            b = order[start : start + recipe.batch]
            v = torch.as_tensor(rng.integers(0, nviews, len(b)))
            rows = torch.as_tensor(train_idx[b])
            x = cache.feats[rows, v].float()
            target = cache.teacher[rows, v]
            emb = F.normalize(tail(x), dim=1)
            logits = emb @ F.normalize(proxies, dim=1).T / recipe.temperature
            loss = F.cross_entropy(logits, y_all[torch.as_tensor(b)])
            loss = loss + recipe.distill * (1 - (emb * target).sum(1)).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
        progress(f"{what}: epoch {epoch + 1}/{recipe.epochs}, loss {total / len(train_idx):.3f}")
    return tail.eval()


def embed_clean(tail: Tail, cache: Cache, idx: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        out = [
            F.normalize(tail(cache.feats[torch.as_tensor(idx[s : s + 64]), 0].float()), dim=1)
            for s in range(0, len(idx), 64)
        ]
    return torch.cat(out) if out else torch.zeros(0, cache.teacher.shape[-1])


def retrieval(
    emb: torch.Tensor, labels: np.ndarray, kinds: Sequence[str], shots: int, seed: int
) -> tuple[int, float, float]:
    """A store of these products: catalog photo + ``shots`` random shots each as references,
    the other shots as queries; a product scores by its nearest reference. (n, R@1, R@5)."""
    rng = np.random.default_rng(seed)
    refs: list[int] = []
    queries: list[int] = []
    for c in np.unique(labels):
        own = [i for i in range(len(labels)) if labels[i] == c]
        cat = [i for i in own if kinds[i] == "catalog"]
        sh = [i for i in own if kinds[i] == "shot"]
        pick = (
            set(rng.choice(len(sh), min(shots, len(sh)), replace=False).tolist())
            if shots
            else set()
        )
        refs += cat + [sh[j] for j in sorted(pick)]
        queries += [sh[j] for j in range(len(sh)) if j not in pick]
    if not queries or not refs:
        return 0, 0.0, 0.0
    products = np.unique(labels)
    sim = (emb[queries] @ emb[refs].T).numpy()
    ref_lab = labels[refs]
    per_product = np.stack([sim[:, ref_lab == c].max(axis=1) for c in products], axis=1)
    order = products[np.argsort(-per_product, axis=1)]
    truth = labels[queries][:, None]
    return (
        len(queries),
        float((order[:, :1] == truth).any(1).mean()),
        float((order[:, :5] == truth).any(1).mean()),
    )


def fold_products(
    skus: Sequence[str], groups: dict[str, str] | None, folds: int, seed: int
) -> list[np.ndarray]:
    """Product indices of each fold. With ``groups`` (sku → e.g. subcategory) every product of a
    group is held out together, so a fold's products are of kinds training never saw."""
    rng = np.random.default_rng(seed)
    if not groups:
        return [np.sort(g) for g in np.array_split(rng.permutation(len(skus)), folds)]
    names = sorted({groups.get(s, s) for s in skus})
    order = [names[i] for i in rng.permutation(len(names))]
    # greedy: the next group to the fold with the fewest products
    members: list[list[int]] = [[] for _ in range(folds)]
    for name in order:
        target = min(range(folds), key=lambda f: len(members[f]))
        members[target] += [i for i, s in enumerate(skus) if groups.get(s, s) == name]
    return [np.array(sorted(m), dtype=int) for m in members]


def kfold(
    net: Any,
    cache: Cache,
    recipe: Recipe,
    folds: int,
    shots: Sequence[int],
    progress: Progress,
    groups: dict[str, str] | None = None,
) -> list[FoldScore]:
    """Train on the other folds' products, score on this fold's: the pretrained model beside it."""
    groups_ = fold_products(cache.skus, groups, folds, recipe.seed)
    base_tail = Tail(net, recipe.freeze_blocks).eval()
    scores = {k: FoldScore(k) for k in shots}
    for f, held in enumerate(groups_):
        test_idx = np.flatnonzero(np.isin(cache.labels, held))
        train_idx = np.flatnonzero(~np.isin(cache.labels, held))
        tail = train_tail(net, cache, train_idx, recipe, progress, f"fold {f + 1}/{folds}")
        labels = cache.labels[test_idx]
        kinds = [cache.kinds[i] for i in test_idx]
        base_emb, new_emb = (
            embed_clean(base_tail, cache, test_idx),
            embed_clean(tail, cache, test_idx),
        )
        for k in shots:
            n, b1, b5 = retrieval(base_emb, labels, kinds, k, recipe.seed + f)
            _, t1, t5 = retrieval(new_emb, labels, kinds, k, recipe.seed + f)
            s = scores[k]
            s.queries += n
            s.base_r1 += b1 * n
            s.base_r5 += b5 * n
            s.trained_r1 += t1 * n
            s.trained_r5 += t5 * n
            progress(
                f"fold {f + 1}/{folds}, {k} shots, {len(held)} held-out products: "
                f"R@1 {b1:.3f} → {t1:.3f}"
            )
    for s in scores.values():
        for name in ("base_r1", "base_r5", "trained_r1", "trained_r5"):
            setattr(s, name, round(getattr(s, name) / max(1, s.queries), 4))
    return list(scores.values())


# --- the command ---------------------------------------------------------------------------------


def train_bundle(
    products_csv: Path,
    queries_csv: Path | None,
    out: Path | None,
    *,
    recipe: Recipe = Recipe(),
    folds: int = 5,
    group_by: str | None = None,
    shots: Sequence[int] = (0, 5),
    name: str | None = None,
    version: str = "1.0.0",
    overwrite: bool = False,
    progress: Progress = lambda _msg: None,
) -> tuple[TrainReport, Bundle | None]:
    """k-fold by product, then (``out`` given) train on every product and write a bundle."""
    import time

    t_start = time.perf_counter()
    torch.manual_seed(recipe.seed)
    photos = read_photos(products_csv, queries_csv)
    if out is not None:
        _prepare_folder(out, overwrite)
    _model, spec, source = load_efficientnet_lite(recipe.base)
    net: Any = _model.net
    if not 0 < recipe.freeze_blocks < len(net._blocks):
        raise ExportError(f"--freeze-blocks must be 1…{len(net._blocks) - 1} for {recipe.base}")
    cache = build_cache(photos, net, spec, recipe, progress)
    report = TrainReport(recipe, len(cache.skus), len(cache.labels), folds, group_by or "sku")
    if folds >= 2:
        if len(cache.skus) < folds:
            raise DatasetError(
                f"{folds} folds need at least {folds} products (got {len(cache.skus)})"
            )
        groups = read_groups(products_csv, group_by) if group_by else None
        report.held_out = kfold(net, cache, recipe, folds, shots, progress, groups)
    report.seconds = time.perf_counter() - t_start
    if out is None:
        return report, None
    tail = train_tail(net, cache, np.arange(len(cache.labels)), recipe, progress, "all products")
    trained = copy.deepcopy(net)
    trained._blocks = nn.ModuleList([*net._blocks[: recipe.freeze_blocks], *tail.blocks])
    trained._conv_head, trained._bn1 = tail.conv_head, tail.bn1
    model = LiteEmbedding(trained).eval()
    h, w = spec.input_size
    onnx_path = out / "model.fp32.onnx"
    export_onnx(
        model, torch.zeros(1, 3, h, w), onnx_path, input_name="image", output_name="embedding"
    )
    sample = [load_image(p.path) for p in photos[:16]]
    check = parity(model, onnx_path, torch_preprocess(sample, spec))
    _gate(check, f"trained {recipe.base}", 1e-4, 0.9999)
    report.seconds = time.perf_counter() - t_start
    manifest = Manifest(
        name=name or f"{recipe.base}-retail",
        version=version,
        source={
            **source,
            "pretraining": f"{source['pretraining']}, then fine-tuned by aislelens models train",
            "exported": _dt.date.today().isoformat(),
            "exporter": f"torch {torch.__version__}",
            "training": {
                **report.as_dict(),
                "data": {
                    "products": f"{products_csv.parent.name}/{products_csv.name}",
                    "queries": f"{queries_csv.parent.name}/{queries_csv.name}"
                    if queries_csv
                    else None,
                },
            },
        },
        preprocess=spec,
        embedding_dim=int(cache.teacher.shape[-1]),
        opset=OPSET,
        files={"fp32": ModelFile.describe(out, onnx_path.name, "fp32")},
        verification={"export_parity": check.as_dict("images")},
    )
    return report, _write_bundle(out, manifest)
