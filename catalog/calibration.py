"""Choosing the decision thresholds for a target precision of "We found it".

From labelled scans — by default the store's own enrolled shots, by cross-validation — the
margin between the first two products that makes "found" right at least ``target`` of the
times it is shown (0.97 by default), and the score below which nothing is close.

The cross-validation is deliberately pessimistic: each product's enrolled shots are taken out
of its prototype *all together* and then used as scans. Leaving out one shot at a time looks far
better than the truth, because staff take a product's shots in one go and they look alike
(measured on the development set: 0.96 Recall@1 that way, against 0.71 on other days' photos;
all-out gives 0.59). Thresholds chosen on the pessimistic figures kept "found" at 95–96 % right
on the development set's held-out photos while it was shown for 28 % of them. A store with no
enrolled shots is calibrated the same way on the synthetic views of its catalog photos (less
faithful; enrol shots and re-index for better thresholds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .adaptation import Adaptation, ProductVectors, l2n
from .decisions import DecisionThresholds

DEFAULT_TARGET = 0.97
#: fewest labelled scans a "found" threshold is chosen from
MIN_FOUND = 20
#: at most this many cross-validation scans (their cost grows with the number of products)
MAX_CV_QUERIES = 2000


@dataclass(frozen=True)
class Samples:
    """Per labelled scan: the best score, its margin, whether the best was right, and whether
    the right product was among the first ``k``."""

    score: np.ndarray
    margin: np.ndarray
    correct: np.ndarray
    in_top_k: np.ndarray
    what: str  # what the scans were, for the thresholds' source line

    def __len__(self) -> int:
        return len(self.score)


def cross_validation_samples(
    adaptation: Adaptation,
    products: Sequence[ProductVectors],
    protos: np.ndarray,
    *,
    k: int = 5,
    seed: int = 0,
) -> Samples:
    """Scans from the store's own photos against prototypes that lack them (see module doc)."""
    shots_kind = "enrolled" if any(len(p.enrolled) for p in products) else "views"
    rng = np.random.default_rng(seed)
    per_product = max(1, MAX_CV_QUERIES // max(1, len(products)))
    scores, margins, correct, top = [], [], [], []
    for j, p in enumerate(products):
        held = p.enrolled if shots_kind == "enrolled" else p.views
        rest = ProductVectors(
            p.product_id,
            p.catalog,
            np.empty((0, p.catalog.shape[1])),
            (p.views if shots_kind == "enrolled" else np.empty((0, p.catalog.shape[1]))),
        )
        if not len(held) or not (len(rest.catalog) or len(rest.views)):
            continue
        if len(held) > per_product:
            held = held[rng.choice(len(held), per_product, replace=False)]
        own = l2n(adaptation.prototype_sum(rest))
        sims = adaptation.transform(held) @ protos.T
        sims[:, j] = adaptation.transform(held) @ own
        order = np.argsort(-sims, axis=1)
        best = sims[np.arange(len(sims)), order[:, 0]]
        second = sims[np.arange(len(sims)), order[:, 1]] if sims.shape[1] > 1 else best - 1.0
        scores.append(best)
        margins.append(best - second)
        correct.append(order[:, 0] == j)
        top.append((order[:, :k] == j).any(axis=1))
    if not scores:
        empty = np.empty(0)
        return Samples(empty, empty, empty.astype(bool), empty.astype(bool), shots_kind)
    what = (
        "cross-validation over the enrolled shots"
        if shots_kind == "enrolled"
        else "cross-validation over synthetic views of the catalog photos (no enrolled shots)"
    )
    return Samples(
        np.concatenate(scores),
        np.concatenate(margins),
        np.concatenate(correct),
        np.concatenate(top),
        what,
    )


def choose_thresholds(samples: Samples, target: float = DEFAULT_TARGET) -> DecisionThresholds:
    """The smallest margin at which "found" is right at least ``target`` of the time on the
    samples (shown as often as that allows), and a "no match" score below every right answer
    but the lowest 1 %. With too few samples for the target, "found" is never shown."""
    n = len(samples)
    if n == 0:
        return DecisionThresholds(
            confident_margin=2.0,
            min_score=-1.0,
            confident_score=-1.0,
            source="calibrated: no labelled scans, so never 'found'",
        )
    order = np.argsort(-samples.margin, kind="stable")
    hits = samples.correct[order].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, n + 1)
    ok = np.where((precision >= target) & (np.arange(1, n + 1) >= MIN_FOUND))[0]
    right = samples.score[samples.correct]
    min_score = float(np.quantile(right, 0.01)) - 0.02 if len(right) else -1.0
    min_score = max(-1.0, min_score)
    if len(ok):
        last = int(ok.max())
        margin = float(samples.margin[order][last])
        shown = (samples.margin >= margin) & (samples.score >= min_score)
        measured = {
            "n": n,
            "found_share": round(float(shown.mean()), 4),
            "found_precision": round(float(samples.correct[shown].mean()), 4),
            "recall_at_1": round(float(samples.correct.mean()), 4),
        }
    else:
        margin = 2.0
        measured = {
            "n": n,
            "found_share": 0.0,
            "found_precision": 0.0,
            "recall_at_1": round(float(samples.correct.mean()), 4),
        }
    return DecisionThresholds(
        confident_score=min_score,
        confident_margin=margin,
        min_score=min_score,
        source=f"calibrated: {samples.what}, {n} scans, found precision ≥ {target:g}",
        measured=measured,
    )
