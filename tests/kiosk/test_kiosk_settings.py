"""Settings: TOML plus AISLELENS_ variables, typed, with clear messages for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.errors import SettingsError
from kiosk.i18n import DE, EN, Translator
from kiosk.settings import load_settings


def test_defaults_are_a_locked_english_kiosk():
    s = load_settings()
    assert s.ui.fullscreen and s.ui.language == "en"
    assert s.recognition.headroom == 1  # a core stays free for the UI and camera
    # the decision thresholds come from the catalog's calibration unless set here
    assert s.recognition.min_score is None and s.recognition.confident_score is None


def test_precedence_overrides_then_env_then_toml(tmp_path, monkeypatch):
    config = tmp_path / "kiosk.toml"
    config.write_text(
        '[ui]\nlanguage = "de"\nidle_timeout_s = 30\n[camera]\nfps = 15\nsource = "/dev/video2"\n'
    )
    monkeypatch.setenv("AISLELENS_CAMERA__FPS", "20")
    monkeypatch.setenv("AISLELENS_CATALOG_HNSW_EF", "64")  # the catalog's own variable: ignored
    s = load_settings(config, ui={"idle_timeout_s": 12})
    assert s.ui.language == "de"  # from the file
    assert s.camera.fps == 20  # the environment beats the file
    assert s.ui.idle_timeout_s == 12  # the command line beats both
    assert s.camera.source == "/dev/video2"


def test_bad_values_name_the_field_the_variable_and_the_value(tmp_path, monkeypatch):
    monkeypatch.setenv("AISLELENS_CAMERA__FPS", "fast")
    config = tmp_path / "kiosk.toml"
    config.write_text(
        "[ui]\nidel_timeout_s = 3\n[recognition]\nmin_score = 0.95\nconfident_score = 0.9\n"
    )
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    text = str(err.value)
    assert "camera.fps [AISLELENS_CAMERA__FPS]" in text and "'fast'" in text
    assert "ui.idel_timeout_s" in text and "unknown setting" in text
    assert "min_score must not exceed confident_score" in text
    assert str(config) in text


def test_the_pin_is_validated_but_never_echoed():
    with pytest.raises(SettingsError) as err:
        load_settings(ui={"staff_pin": "12ab"})
    assert "ui.staff_pin" in str(err.value) and "12ab" not in str(err.value)
    assert "9876" not in repr(load_settings(ui={"staff_pin": "9876"}))


def test_broken_toml_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[ui\nlanguage = 'de'")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad)
    with pytest.raises(SettingsError, match="no such settings file"):
        load_settings(tmp_path / "missing.toml")


def test_translation_tables_agree_and_format():
    assert set(EN) == set(DE)
    assert all(DE[k] for k in DE)
    de = Translator("de")
    assert de("find") == "Dieses Produkt finden"
    assert de.price(3.49) == "3,49 €" and Translator("en").price(3.49) == "€3.49"
    assert Translator("en")("preparing_demo", percent=40).endswith("40 %")
    with pytest.raises(ValueError):
        Translator("xx")


def test_the_pyside_refcount_guard_targets_only_the_affected_release():
    import sys

    from kiosk.ui.qtfix import guard_singleton_refcounts, needs_guard

    assert needs_guard("6.12.0", (3, 11)) and not needs_guard("6.12.0", (3, 12))
    assert not needs_guard("6.11.2", (3, 11))
    if guard_singleton_refcounts():  # this environment has the bug: the counts are far from 0
        assert sys.getrefcount(None) > 1 << 39 and sys.getrefcount(True) > 1 << 39


def test_bad_values_say_where_they_were_set(tmp_path, monkeypatch):
    with pytest.raises(SettingsError) as err:
        load_settings(camera={"fps": -5})
    assert "(in the command line)" in str(err.value) and "None" not in str(err.value)
    monkeypatch.setenv("AISLELENS_UI__IDLE_TIMEOUT_S", "soon")
    config = tmp_path / "kiosk.toml"
    config.write_text("[camera]\nwidth = 3\n")
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    lines = str(err.value).splitlines()
    assert lines[0] == "invalid settings:"
    assert any(
        "ui.idle_timeout_s" in li and "(in $AISLELENS_UI__IDLE_TIMEOUT_S)" in li for li in lines
    )
    assert any("camera.width" in li and f"(in {config})" in li for li in lines)


def test_a_settings_file_that_is_not_utf8_is_one_clear_line(tmp_path):
    bad = tmp_path / "kiosk.toml"
    bad.write_bytes(b'[ui]\nlanguage = "\xff\xfe"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(bad)
    assert "not UTF-8 text" in str(err.value) and "\n" not in str(err.value)


def test_the_readme_settings_example_is_valid_settings(tmp_path):
    """The settings block in the README loads as it is (every section and field exists)."""
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"### Settings.*?```toml\n(.*?)```", readme, re.S)
    assert block is not None
    config = tmp_path / "kiosk.toml"
    config.write_text(block.group(1))
    settings = load_settings(config)
    assert settings.metrics.enabled is False and settings.metrics.port == 9108
    assert settings.camera.stall_timeout_s == 1.5
