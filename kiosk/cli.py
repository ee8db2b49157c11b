"""The ``aislelens`` command: one entry point with sub-command groups.

``aislelens models …`` (model bundles), ``aislelens catalog …`` (the staff tool) and
``aislelens kiosk`` (the shopper app). Library errors become a one-line message and exit
status 2 here; nothing below this module prints or exits.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from catalog.cli import catalog
from catalog.errors import CatalogError
from models.cli import models
from models.errors import ModelError

from .errors import KioskError

USER_ERRORS = (ModelError, CatalogError, KioskError)


class _TranslatingGroup(click.Group):
    """Turns the libraries' typed errors into ``error: …`` and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_TranslatingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="aislelens")
def cli(verbose: int) -> None:
    """AisleLens: on-device visual product finder for in-store kiosks."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


cli.add_command(models)
cli.add_command(catalog)


def main() -> None:
    cli(prog_name="aislelens")
