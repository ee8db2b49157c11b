"""The kiosk's typed configuration: a TOML file plus ``AISLELENS_`` environment variables.

Built once at start-up by :func:`load_settings` and passed down; nothing deeper reads the
environment. Precedence, highest first: explicit overrides (the command line), environment
variables (``AISLELENS_UI__LANGUAGE=de``, nested fields joined by ``__``), the TOML file
(``[ui] language = "de"``), then the defaults below. A bad value is a :class:`SettingsError`
that names the field, the value and where it came from.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from .errors import SettingsError

ENV_PREFIX = "AISLELENS_"
LANGUAGES = ("en", "de")


def default_data_dir() -> Path:
    """Where the kiosk writes logs (``$XDG_DATA_HOME/aislelens``, else ~/.local/share/aislelens)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "aislelens"


def default_cache_dir() -> Path:
    """Where derived, rebuildable files go (the demo catalog): ``$XDG_CACHE_HOME/aislelens``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aislelens"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraSettings(_Section):
    """Where frames come from and how the camera thread treats them."""

    #: a device index ("0"), a video file, a folder of images (replayed) or a stream URL
    source: str = "0"
    width: int = Field(default=1280, ge=160, le=7680)
    height: int = Field(default=720, ge=120, le=4320)
    fps: float = Field(default=30.0, gt=0, le=120)
    #: no frame for this long counts as a stalled or unplugged camera
    stall_timeout_s: float = Field(default=1.5, gt=0, le=10)
    reconnect_interval_s: float = Field(default=1.0, gt=0, le=60)
    mirror: bool = False
    #: replay sources only: start again at the end
    loop: bool = True


class RecognitionSettings(_Section):
    """The model, the thresholds that turn scores into states, and auto mode."""

    bundle: str | None = None  # shipped bundle name or folder; None = the default bundle
    precision: Literal["auto", "fp32", "fp16", "int8"] = "auto"
    threads: int | None = Field(default=None, ge=1, le=64)
    headroom: int = Field(default=1, ge=0, le=8)  # cores left free for the UI and camera threads
    #: camera frames through OpenCV's resampling (about ten times faster, and as accurate on
    #: real shop photos, see tests), as new catalogs index their photos; false: the exact
    #: reference path (catalogs indexed before 2026-12-04, or with
    #: AISLELENS_CATALOG_FAST_PREPROCESS=0, were indexed through it)
    fast_preprocess: bool = True
    top_k: int = Field(default=5, ge=1, le=12)
    #: best score and margin to the runner-up needed for a confident answer, and the best score
    #: below which nothing is close ("No match"). None (the default): the catalog's calibrated
    #: thresholds (`aislelens catalog calibrate`), else catalog.decisions' defaults.
    confident_score: float | None = Field(default=None, ge=-1, le=1)
    confident_margin: float | None = Field(default=None, ge=0, le=2)
    min_score: float | None = Field(default=None, ge=-1, le=1)
    auto_mode: bool = True
    #: auto mode waits this long between recognitions (raised while throttled)
    auto_interval_s: float = Field(default=1.0, ge=0, le=60)
    #: the frame must be steady this long before auto mode scans it
    steady_s: float = Field(default=0.35, ge=0, le=10)
    #: side of the framing guide as a fraction of the frame's shorter side
    guide_fraction: float = Field(default=0.8, gt=0.2, le=1.0)
    #: how far (mean grey levels of the guide's 40 × 40 signature) the scene may move from the
    #: scanned one before a result no longer describes it; on the demo video a held product
    #: stays within 6 of itself, and the next product is at least 13 away
    scene_change: float = Field(default=9.0, gt=0, le=255)
    #: the scene must have changed (or the guide been empty) this long before a result goes
    stale_after_s: float = Field(default=0.4, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> RecognitionSettings:
        if (
            self.min_score is not None
            and self.confident_score is not None
            and self.min_score > self.confident_score
        ):
            raise ValueError("min_score must not exceed confident_score")
        return self


class QualitySettings(_Section):
    """Frame checks behind the "Hold still", "Too dark", "Move closer" hints."""

    min_sharpness: float = Field(default=25.0, ge=0)  # variance of the Laplacian at 160 px wide
    min_brightness: float = Field(default=50.0, ge=0, le=255)
    max_brightness: float = Field(default=220.0, ge=0, le=255)
    max_motion: float = Field(default=6.0, ge=0)  # mean absolute grey difference between frames
    min_detail: float = Field(default=0.015, ge=0, le=1)  # fraction of edge pixels inside the guide
    #: grey-level standard deviation inside the guide below which it holds only background
    min_contrast: float = Field(default=17.0, ge=0, le=128)


class CacheSettings(_Section):
    """The in-memory recognition cache (perceptual hash → results)."""

    size: int = Field(default=64, ge=0, le=10_000)  # 0 disables it
    max_distance: int = Field(default=5, ge=0, le=32)  # Hamming distance between 64-bit hashes


class UiSettings(_Section):
    """The touch app itself."""

    language: Literal["en", "de"] = "en"
    fullscreen: bool = True
    hide_cursor: bool = False
    idle_timeout_s: float = Field(default=60.0, ge=1, le=3600)
    long_press_s: float = Field(default=3.0, ge=0.5, le=20)
    staff_pin: SecretStr = Field(default=SecretStr("2468"), description="4 to 8 digits")

    @field_validator("staff_pin")
    @classmethod
    def _pin_digits(cls, pin: SecretStr) -> SecretStr:
        value = pin.get_secret_value()
        # ASCII only: "１２３４" or "²²²²" pass str.isdigit() but the keypad cannot type them
        if not (value.isascii() and value.isdigit() and 4 <= len(value) <= 8):
            raise ValueError("must be 4 to 8 digits 0-9")
        return pin


class ThermalSettings(_Section):
    """When to slow down (hot CPU, low battery) and how much."""

    sysfs_root: Path = Path("/sys")
    poll_s: float = Field(default=5.0, gt=0, le=600)
    temp_high_c: float = Field(default=75.0, gt=0, le=150)
    temp_ok_c: float = Field(default=68.0, gt=0, le=150)  # below this again → back to full speed
    battery_low_pct: float = Field(default=20.0, ge=0, le=100)
    battery_ok_pct: float = Field(default=25.0, ge=0, le=100)
    throttled_camera_fps: float = Field(default=10.0, gt=0, le=120)
    throttled_auto_interval_s: float = Field(default=3.0, ge=0, le=600)

    @model_validator(mode="after")
    def _hysteresis(self) -> ThermalSettings:
        if self.temp_ok_c >= self.temp_high_c:
            raise ValueError("temp_ok_c must be below temp_high_c")
        if self.battery_ok_pct < self.battery_low_pct:
            raise ValueError("battery_ok_pct must not be below battery_low_pct")
        return self


class UpdateSettings(_Section):
    """Signed over-the-air releases (``aislelens update``); off while repository_url is unset."""

    #: the release repository's public folder, served over HTTP(S): it holds metadata/, targets/
    repository_url: str | None = None
    channel: str = Field(default="stable", pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    #: the repository's first root.json (from `aislelens publish init`): the trust anchor
    trusted_root: Path = Path("/etc/aislelens/update-root.json")
    #: this kiosk's id for staged rollouts and reports; default: /etc/machine-id
    kiosk_id: str | None = None
    #: where outcomes are reported (an `aislelens serve` on the back office: /v1/fleet/report)
    fleet_url: str | None = None
    interval_s: float = Field(default=900.0, ge=10, le=86_400)
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    #: starts a new release gets to become READY before the kiosk goes back to the previous one
    max_start_attempts: int = Field(default=3, ge=1, le=20)

    @field_validator("repository_url", "fleet_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v


class MetricsSettings(_Section):
    """``[metrics]``: Prometheus metrics of the kiosk on 127.0.0.1 only. Off by default: the
    kiosk then opens no socket at all (its systemd unit also needs a drop-in, see README)."""

    enabled: bool = False
    port: int = Field(default=9108, ge=1024, le=65535)


def bundle_choice(
    r: RecognitionSettings, ref: str | None, stored: str | None
) -> tuple[str | None, str]:
    """(bundle, precision) the kiosk opens: the settings' bundle, else ``ref`` (the one a
    catalog was indexed with, at its ``stored`` precision unless the settings name one)."""
    bundle, precision = r.bundle, str(r.precision)
    if bundle is None and ref is not None:
        bundle = ref
        precision = stored if precision == "auto" and stored else precision
    return bundle, precision


class KioskSettings(BaseSettings):
    """Everything the kiosk can be told; see :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    #: the published catalog to search; None with --demo (the demo builds its own)
    catalog_db: Path | None = None
    #: logs (SKUs and timings only, never pixels)
    data_dir: Path = Field(default_factory=default_data_dir)
    #: rebuildable derived files (the demo catalog and its replay frames)
    cache_dir: Path = Field(default_factory=default_cache_dir)
    #: how often to look for a re-published catalog and swap it in (0: never)
    catalog_poll_s: float = Field(default=30.0, ge=0, le=86_400)
    camera: CameraSettings = CameraSettings()
    recognition: RecognitionSettings = RecognitionSettings()
    quality: QualitySettings = QualitySettings()
    cache: CacheSettings = CacheSettings()
    ui: UiSettings = UiSettings()
    thermal: ThermalSettings = ThermalSettings()
    update: UpdateSettings = UpdateSettings()
    metrics: MetricsSettings = MetricsSettings()


def _toml_source(data: dict[str, Any]) -> type[KioskSettings]:
    """A KioskSettings whose lowest-priority source (above defaults) is ``data``."""

    class _FromToml(KioskSettings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, InitSettingsSource(settings_cls, init_kwargs=data)

    return _FromToml


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file as a dict, or a SettingsError naming the file and the syntax problem."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SettingsError(f"{path}: no such settings file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise SettingsError(
            f"{path}: not UTF-8 text (byte {exc.start}); save the settings file as UTF-8"
        ) from exc
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read ({exc.strerror})") from exc


def load_settings(
    config_file: str | os.PathLike[str] | None = None, **overrides: Any
) -> KioskSettings:
    """Build the settings from defaults, a TOML file, ``AISLELENS_*`` variables and overrides.

    Nested overrides are dicts: ``load_settings(ui={"fullscreen": False})``.
    """
    data = read_toml(Path(config_file)) if config_file is not None else {}
    try:
        loaded = _toml_source(data)(**overrides)
        # A plain KioskSettings built from validated values: no env re-read, no subclass leak.
        return KioskSettings.model_construct(
            **{name: getattr(loaded, name) for name in KioskSettings.model_fields}
        )
    except ValidationError as exc:
        raise SettingsError(_describe(exc, config_file, data, overrides)) from None


def _has(tree: dict[str, Any], path: tuple[str | int, ...]) -> bool:
    """Whether the nested dict ``tree`` sets the field at ``path``."""
    node: Any = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _origin(
    path: tuple[str | int, ...],
    env: str,
    config_file: str | os.PathLike[str] | None,
    data: dict[str, Any],
    overrides: dict[str, Any],
) -> str:
    """Where the value of the field at ``path`` came from, highest precedence first ("" if
    nobody set it: a rule across fields, or a missing value)."""
    if _has(overrides, path):
        return "the command line"
    if env in os.environ:
        return f"${env}"
    if config_file is not None and _has(data, path):
        return str(config_file)
    return ""


def _describe(
    exc: ValidationError,
    config_file: str | os.PathLike[str] | None,
    data: dict[str, Any],
    overrides: dict[str, Any],
) -> str:
    """One readable line per bad field: what is wrong, the value given, where it was set."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        env = ENV_PREFIX + "__".join(str(p) for p in err["loc"]).upper()
        origin = _origin(tuple(err["loc"]), env, config_file, data, overrides)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        given = f", got {err['input']!r}"
        if err["type"] in ("missing", "extra_forbidden") or isinstance(err["input"], dict):
            given = ""
        if "staff_pin" in loc:
            given = ""  # never echo a secret
        where = f" (in {origin})" if origin else ""
        lines.append(f"{loc} [{env}]: {msg}{given}{where}")
    return "invalid settings:\n  " + "\n  ".join(lines)
