"""The ``aislelens`` command: one entry point with sub-command groups.

``aislelens models …`` (model bundles), ``aislelens catalog …`` (the staff tool),
``aislelens staff`` (the same tool as a desktop window) and ``aislelens kiosk`` (the shopper
app). Library errors become a one-line message and exit
status 2 here; nothing below this module prints or exits.
"""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click

from catalog.db import is_damage
from catalog.errors import CatalogError
from models.errors import ModelError

from .display import check_display
from .errors import KioskError

USER_ERRORS = (ModelError, CatalogError, KioskError)


#: command groups imported only when run: the kiosk's own process then never loads the staff
#: tool, publishing and TUF (about 12 MB of its memory)
LAZY_COMMANDS = {
    "catalog": "catalog.cli:catalog",
    "models": "models.cli:models",
    "publish": "catalog.cli_publish:publish",
}


class _TranslatingGroup(click.Group):
    """Turns the libraries' typed errors into ``error: …`` and exit status 2; imports the
    commands of :data:`LAZY_COMMANDS` when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except sqlite3.DatabaseError as exc:  # met outside the finder's own translation
            what = "damaged" if is_damage(exc) else "unreadable"
            click.echo(
                f"error: the catalog database is {what} ({exc}); "
                "run `aislelens catalog check --db …`",
                err=True,
            )
            ctx.exit(2)


@click.group(cls=_TranslatingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="aislelens")
def cli(verbose: int) -> None:
    """AisleLens: on-device visual product finder for in-store kiosks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option(
    "--demo",
    is_flag=True,
    help="Run on the built-in demo shop (drawn products and a replay camera); "
    "built on first use, then cached.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (TOML). AISLELENS_* environment variables override it.",
)
@click.option(
    "--catalog",
    "catalog_db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Catalog database to search (settings: catalog_db).",
)
@click.option(
    "--camera",
    "camera_source",
    help="Device index, stream URL, video file or image folder (settings: camera.source).",
)
@click.option(
    "--fullscreen/--windowed",
    default=None,
    help="Kiosk mode (full screen, frameless, staff exit only) or a normal window.",
)
@click.option("--language", type=click.Choice(["en", "de"]), help="Shopper language.")
@click.option("--hide-cursor/--show-cursor", default=None, help="Hide the mouse pointer.")
@click.option(
    "--platform",
    "qt_platform",
    metavar="NAME",
    help="Qt platform: xcb (X11), wayland, eglfs, or offscreen (no display at all); "
    "default: $QT_QPA_PLATFORM, else the session's.",
)
@click.option(
    "--exit-when-ready",
    is_flag=True,
    hidden=True,
    help="Benchmarks: print start-up times as JSON and quit once ready.",
)
@click.option(
    "--run-for",
    "run_for_s",
    type=click.FloatRange(0, 3600),
    hidden=True,
    help="Tests: once ready, scan for SECONDS, print the scan count as JSON and quit.",
)
def kiosk(
    demo: bool,
    config_file: Path | None,
    catalog_db: Path | None,
    camera_source: str | None,
    fullscreen: bool | None,
    language: str | None,
    hide_cursor: bool | None,
    qt_platform: str | None,
    exit_when_ready: bool,
    run_for_s: float | None,
) -> None:
    """Open the touchscreen app for shoppers.

    \b
    Examples:
      aislelens kiosk --demo --windowed
      aislelens kiosk --catalog store.db --camera 0
      xvfb-run -s "-screen 0 1280x800x24" aislelens kiosk --demo   # no screen attached
      AISLELENS_UI__LANGUAGE=de aislelens kiosk --config /etc/aislelens/kiosk.toml

    Staff leave kiosk mode by holding the AisleLens logo (top left) and entering the PIN.
    """
    t_start = time.monotonic()
    if demo and camera_source is not None:
        raise click.UsageError(
            "--camera and --demo do not go together: the demo plays its own video"
        )
    from .settings import load_settings

    overrides: dict[str, Any] = {}
    if catalog_db is not None:
        overrides["catalog_db"] = catalog_db
    if camera_source is not None:
        overrides["camera"] = {"source": camera_source}
    ui = {
        k: v
        for k, v in (
            ("fullscreen", fullscreen),
            ("language", language),
            ("hide_cursor", hide_cursor),
        )
        if v is not None
    }
    if ui:
        overrides["ui"] = ui
    settings = load_settings(config_file, **overrides)
    if qt_platform:
        os.environ["QT_QPA_PLATFORM"] = qt_platform
    check_display()  # before Qt: it aborts the process when a library or the display is missing
    from .ui.app import run_kiosk  # Qt only now: `aislelens models …` never imports PySide6

    status = run_kiosk(
        settings,
        demo=demo,
        t_start=t_start,
        exit_when_ready=exit_when_ready,
        run_for_s=run_for_s,
    )
    from .ui.app import RESTART_STATUS

    if status == RESTART_STATUS:
        restart_in_place(settings)
    if status:
        raise click.exceptions.Exit(status)


def restart_in_place(settings: Any) -> NoReturn:
    """Start the kiosk again in this process (same pid, same command line: under cage and
    systemd nothing else notices), after counting the start as ``update --boot`` does for a
    release on probation."""
    from .releases import UpdateState, boot_check

    try:
        u = settings.update
        boot_check(UpdateState(settings.data_dir / "updates"), u.max_start_attempts, u.kiosk_id)
    except OSError as exc:
        click.echo(f"warning: the start was not counted: {exc}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, sys.orig_argv)


@cli.command()
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Catalog database to open (else choose or create one in the window).",
)
@click.option(
    "--camera",
    "camera_source",
    metavar="SOURCE",
    help="A camera to take product photos with: device index, stream URL, video file or image "
    "folder (as the kiosk's --camera); without it photos are enrolled from files.",
)
@click.option(
    "--platform",
    "qt_platform",
    metavar="NAME",
    help="Qt platform: xcb (X11), wayland, or offscreen; default: $QT_QPA_PLATFORM, else the "
    "session's.",
)
@click.option(
    "--exit-when-shown",
    is_flag=True,
    hidden=True,
    help="Tests: once the window shows the catalog, print what it shows as JSON and quit.",
)
def staff(
    db: Path | None, camera_source: str | None, qt_platform: str | None, exit_when_shown: bool
) -> None:
    """Open the staff window on the back-office PC: the catalog tool with a mouse.

    Open or create a catalog; import a product file (checked by a dry run first, its problems
    listed by row and column, then imported); see the products with their pictures, prices,
    aisles and photo counts; enrol photos by dropping image files on a product (or take them
    with --camera); index with a
    progress bar and Cancel (what is embedded is kept); see the most confused product pairs;
    calibrate when the kiosk says "We found it". Each does what the matching `aislelens
    catalog` command does. Not the kiosk's own staff page (behind its PIN).

    \b
    Examples:
      aislelens staff --db store.db
      aislelens staff --db store.db --camera 0
      aislelens staff                      # choose or create the catalog in the window
    """
    from catalog.listing import CatalogListing
    from catalog.settings import CatalogSettings

    settings = CatalogSettings.from_env()
    if db is not None:  # a wrong --db is one line here, before any window opens
        CatalogListing(db).close()
    if qt_platform:
        os.environ["QT_QPA_PLATFORM"] = qt_platform
    check_display()
    from .ui.backoffice.app import run_backoffice

    camera = None
    if camera_source is not None:
        from functools import partial

        from .sources import open_source

        camera = partial(open_source, camera_source, fps=15.0)
    status = run_backoffice(db, settings, camera, exit_when_shown=exit_when_shown)
    if status:
        raise click.exceptions.Exit(status)


#: the settings file of the commands IT runs on the device (doctor, update)
DEVICE_CONFIG = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (default: /etc/aislelens/kiosk.toml when there is one).",
)


@cli.command()
@DEVICE_CONFIG
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def doctor(config_file: Path | None, as_json: bool) -> None:
    """Check this device: service, display, camera, model, catalog, disk and temperature.

    One line per check: ok, warning or problem, and what to do about it. Exit status 1 when
    anything is a problem, 0 otherwise. Changes nothing.

    \b
    Example:
      aislelens doctor
      aislelens doctor --config /etc/aislelens/kiosk.toml --json
    """
    import json

    from .doctor import default_config, diagnose, worst
    from .settings import load_settings

    settings = load_settings(config_file or default_config())
    findings = diagnose(settings)
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in findings], indent=1))
    else:
        for finding in findings:
            click.echo(finding.line())
    if worst(findings) == "problem":
        raise click.exceptions.Exit(1)


@cli.command()
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="AISLELENS_CATALOG_DB",
    required=True,
    help="Catalog database to search ($AISLELENS_CATALOG_DB).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="File holding the bearer token every /v1 request must carry (or $AISLELENS_SERVE_TOKEN); "
    "required to listen on anything but loopback.",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Model threads at once.")  # fmt: skip
@click.option("--queue", default=16, show_default=True, type=click.IntRange(0, 10_000),
              help="Requests that may wait for a worker; more get 503 with Retry-After.")  # fmt: skip
@click.option("--max-upload-mb", default=10.0, show_default=True, type=click.FloatRange(0.01, 200))
@click.option("--fleet-db", type=click.Path(dir_okay=False, path_type=Path),
              help="Keep kiosks' update reports (POST /v1/fleet/report) in this file.")  # fmt: skip
def serve(
    db: Path,
    host: str,
    port: int,
    token_file: Path | None,
    workers: int,
    queue: int,
    max_upload_mb: float,
    fleet_db: Path | None,
) -> None:
    """Serve the catalog's search over HTTP (for a store's edge server).

    POST /v1/search (an image body or multipart file, or {"text": …}), POST /v1/embed,
    GET /v1/products/SKU, GET /healthz, GET /readyz, GET /metrics (Prometheus),
    POST /v1/fleet/report (kiosks' update outcomes, with --fleet-db).

    \b
    Examples:
      aislelens serve --db store.db
      curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' \\
          'http://127.0.0.1:8700/v1/search?k=5'
      aislelens serve --db store.db --host 0.0.0.0 --token-file /etc/aislelens/serve.token
    """
    token = (
        token_file.read_text().strip() if token_file else os.environ.get("AISLELENS_SERVE_TOKEN")
    )
    if token is not None and len(token) < 16:
        raise click.UsageError("the token must be at least 16 characters")
    from .service import LOOPBACK, ServiceLimits, create_app

    if host not in LOOPBACK and not token:
        raise click.UsageError(
            f"listening on {host} needs a token: --token-file FILE or $AISLELENS_SERVE_TOKEN "
            "(without one, only 127.0.0.1)"
        )
    if not db.exists():
        raise click.UsageError(f"{db}: no such catalog (make one with aislelens catalog import)")
    import uvicorn

    limits = ServiceLimits(
        max_upload_bytes=round(max_upload_mb * 1e6), workers=workers, queue=queue
    )
    app = create_app(db, token=token or None, limits=limits, fleet_db=fleet_db)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


@cli.command()
@DEVICE_CONFIG
@click.option("--once", is_flag=True, help="Check once and exit (else every [update] interval_s).")
@click.option("--boot", is_flag=True,
              help="Before the kiosk starts: count a start of a new release; go back to the "
              "previous one after [update] max_start_attempts starts without READY.")  # fmt: skip
@click.option("--status", "show_status", is_flag=True, help="Print the releases on this kiosk.")
def update(config_file: Path | None, once: bool, boot: bool, show_status: bool) -> None:
    """Fetch, verify and switch to a new signed release of the catalog (and model).

    The catalog the kiosk runs is <data_dir>/updates/current/store.db: set catalog_db to it.
    A release is checked (bundle loads, catalog opens, self-test scan) before the switch, and
    switched back from when the kiosk does not become ready on it.

    \b
    Examples:
      aislelens update --once
      aislelens update --status
      aislelens update --boot       # ExecStartPre of the kiosk's unit
    """
    import json

    from .doctor import default_config
    from .releases import UpdateState, boot_check
    from .settings import load_settings
    from .updater import KioskUpdater, send_reports

    settings = load_settings(config_file or default_config())
    u = settings.update
    state = UpdateState(settings.data_dir / "updates")
    if show_status:
        click.echo(json.dumps({"current": state.current, "previous": state.previous,
                               **state.read()}))  # fmt: skip
        return
    if boot:
        click.echo(boot_check(state, u.max_start_attempts, u.kiosk_id).line())
        return
    if u.repository_url is None:
        raise click.UsageError("no [update] repository_url in the settings: updates are off")
    try:
        root = u.trusted_root.read_bytes()
    except OSError as exc:
        raise click.UsageError(f"{u.trusted_root}: cannot read the trusted root ({exc})") from None
    updater = KioskUpdater(
        state, u.repository_url, root, channel=u.channel, kiosk_id=u.kiosk_id,
        timeout_s=u.timeout_s, recognition=settings.recognition,
    )  # fmt: skip
    while True:
        outcome = updater.check_once()
        click.echo(outcome.line())
        if u.fleet_url:
            send_reports(state, u.fleet_url, timeout_s=min(u.timeout_s, 10))
        if once:
            if outcome.status in ("refused", "failed"):
                raise click.exceptions.Exit(1)
            return
        time.sleep(u.interval_s)


def main() -> None:
    cli(prog_name="aislelens")
