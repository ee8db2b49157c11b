"""Errors raised by the kiosk.

The CLI turns them into a one-line message and exit status 2; the running app turns them into
a friendly screen (e.g. "Camera unavailable") plus a log line::

    KioskError                      base of everything below
    ├── SettingsError               a setting is missing, malformed or out of range (names it)
    ├── CameraError                 the camera or replay source cannot be used
    │   └── CameraUnavailableError  it cannot be opened, or stopped delivering frames
    ├── RecognitionError            a frame could not be recognised (model or catalog failure)
    ├── DemoError                   the demo catalog or replay camera could not be built
    └── ModelChangedError           a new catalog needs another model: the kiosk restarts
"""

from __future__ import annotations


class KioskError(Exception):
    """Base class of every error raised by :mod:`kiosk`."""


class SettingsError(KioskError):
    """The kiosk's configuration is invalid; the message names every bad field and its source."""


class CameraError(KioskError):
    """The camera or replay source cannot be used."""


class CameraUnavailableError(CameraError):
    """The camera cannot be opened, or it stopped delivering frames (unplugged, stalled)."""


class RecognitionError(KioskError):
    """A frame could not be turned into search results."""


class DemoError(KioskError):
    """The demo catalog or its replay camera could not be built."""


class ModelChangedError(KioskError):
    """The catalog on disk was indexed with another model bundle (a release that changed it):
    the running kiosk restarts to load that bundle, as it does at any start."""
