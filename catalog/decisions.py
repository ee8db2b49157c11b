"""What a scan shows the shopper, from its search result: "found", "not sure" or "no match".

One rule for the kiosk, ``catalog eval`` and ``catalog calibrate``: *found* ("We found it") when
the best score is at least ``confident_score`` and its margin to the runner-up at least
``confident_margin``; *no match* when the best score is below ``min_score``; *not sure*
("Is it one of these?") otherwise. The thresholds come from the catalog (chosen by
:mod:`catalog.calibration` for a target precision of "found"), else from these defaults, which
suit raw cosine scores of the default bundle; the kiosk's settings override either.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .types import SearchResult


class Decision(enum.Enum):
    FOUND = "found"
    NOT_SURE = "not_sure"
    NO_MATCH = "no_match"


@dataclass(frozen=True)
class DecisionThresholds:
    """The three numbers behind a decision, and where they came from."""

    confident_score: float = 0.75
    confident_margin: float = 0.05
    min_score: float = 0.60
    #: "default", "calibrated: …" (how, on what, for which precision), or "settings"
    source: str = "default"
    #: what the calibration measured: share of scans shown "found" and their precision
    measured: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DecisionThresholds:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def overridden(
        self,
        *,
        confident_score: float | None = None,
        confident_margin: float | None = None,
        min_score: float | None = None,
    ) -> DecisionThresholds:
        """These thresholds with any value the settings give replacing the catalog's."""
        given: dict[str, Any] = {
            k: v
            for k, v in (
                ("confident_score", confident_score),
                ("confident_margin", confident_margin),
                ("min_score", min_score),
            )
            if v is not None
        }
        if not given:
            return self
        return replace(
            self, **given, source=f"settings ({', '.join(given)}) over {self.source}", measured={}
        )


DEFAULT_THRESHOLDS = DecisionThresholds()


def decide(score: float | None, margin: float, thresholds: DecisionThresholds) -> Decision:
    """The decision for a best score (None: nothing found) and its margin to the runner-up."""
    if score is None or score < thresholds.min_score:
        return Decision.NO_MATCH
    if score >= thresholds.confident_score and margin >= thresholds.confident_margin:
        return Decision.FOUND
    return Decision.NOT_SURE


def decide_result(result: SearchResult, thresholds: DecisionThresholds) -> Decision:
    """The decision for a search result. Products tied first by a photo they share (the same
    bytes) are "not sure" whatever the thresholds: any one of them would be a guess, and a
    confident wrong answer is worse than showing the candidates."""
    best = result.matches[0].score if result.matches else None
    decision = decide(best, result.margin, thresholds)
    if decision is Decision.FOUND and result.shared_photo:
        return Decision.NOT_SURE
    return decision


def decision_reason(result: SearchResult, thresholds: DecisionThresholds) -> str:
    """Why the result is not "found", in one line for staff and logs ("" when it is)."""
    best = result.matches[0].score if result.matches else None
    if best is None:
        return "nothing to compare with (the catalog has no vectors)"
    if best < thresholds.min_score:
        return f"best score {best:.3f} below {thresholds.min_score:.3f}"
    if result.shared_photo:
        return (
            f"{' and '.join(result.shared_photo)} have the same photo (identical bytes): "
            "nothing tells them apart by it (give each product its own photo)"
        )
    if best < thresholds.confident_score:
        return f"best score {best:.3f} below {thresholds.confident_score:.3f}"
    if result.margin < thresholds.confident_margin:
        return (
            f"margin {result.margin:.3f} to the runner-up below {thresholds.confident_margin:.3f}"
        )
    return ""


def describe_found(t: DecisionThresholds) -> str:
    """One line on when "We found it" is shown, for the staff tool."""
    m = t.measured
    if t.confident_margin > 1.0:
        return (
            "'We found it': never (too little to go by for the target: enrol five in-store shots "
            "per product, or calibrate on labelled photos); the kiosk shows the candidates"
        )
    return (
        f"'We found it' when the best product leads by ≥ {t.confident_margin:.3f} "
        f"(on the calibration scans: shown {m.get('found_share', 0):.0%}, right "
        f"{m.get('found_precision', 0):.1%})"
    )
