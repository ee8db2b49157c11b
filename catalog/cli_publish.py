"""``aislelens publish``: sign a catalog (and bundle) as a release kiosks fetch by themselves."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .fleet import FleetLog
from .publish import (
    PublishError,
    Repository,
    describe,
    init_repository,
    promote,
    publish_release,
)

REPO_OPTION = click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="AISLELENS_PUBLISH_REPO",
    help="The release repository folder ($AISLELENS_PUBLISH_REPO).",
)


@click.group(invoke_without_command=True)
@REPO_OPTION
@click.option("--db", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The indexed catalog to publish.")  # fmt: skip
@click.option(
    "--bundle",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Ship this model bundle folder with the catalog (its vectors must be this bundle's).",
)
@click.option("--channel", default="stable", show_default=True, help="Release channel.")
@click.option("--percent", type=click.FloatRange(0, 100, min_open=True), default=None,
              help="Share of the channel's kiosks that take it (a stable cohort; default 100; "
              "with --promote: widen to this).")  # fmt: skip
@click.option("--promote", "do_promote", is_flag=True,
              help="Widen the channel's newest release to --percent, if its stage went well.")  # fmt: skip
@click.option("--fleet-db", type=click.Path(dir_okay=False, path_type=Path),
              help="The fleet log `aislelens serve --fleet-db` keeps (for --promote).")  # fmt: skip
@click.option("--max-failure-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="--promote refuses above this share of failed kiosks.")  # fmt: skip
@click.option("--min-reports", type=click.IntRange(0), default=1, show_default=True,
              help="--promote waits for at least this many kiosk reports.")  # fmt: skip
@click.option("--refresh", is_flag=True, help="Only re-sign the timestamp (run it daily).")
@click.option("--list", "do_list", is_flag=True, help="List the published releases.")
@click.pass_context
def publish(
    ctx: click.Context,
    repo: Path | None,
    db: Path | None,
    bundle: Path | None,
    channel: str,
    percent: float | None,
    do_promote: bool,
    fleet_db: Path | None,
    max_failure_rate: float,
    min_reports: int,
    refresh: bool,
    do_list: bool,
) -> None:
    """Publish a catalog as a signed release for kiosks to update to (TUF).

    \b
    Examples:
      aislelens publish init --repo /srv/aislelens-releases
      aislelens publish --repo /srv/aislelens-releases --db store.db --percent 10
      aislelens publish --repo /srv/aislelens-releases --promote --percent 100 \\
          --fleet-db /srv/aislelens-fleet.db
      aislelens publish --repo /srv/aislelens-releases --refresh     # daily
    Serve REPO/public over HTTP; kiosks set [update] repository_url to it.
    """
    if ctx.invoked_subcommand is not None:
        return
    if repo is None:
        raise click.UsageError("--repo is needed (or $AISLELENS_PUBLISH_REPO)")
    if do_list:
        for release in Repository(repo).releases():
            click.echo(describe(release))
        return
    if refresh:
        Repository(repo).refresh()
        click.echo(f"re-signed the timestamp of {repo}")
        return
    if do_promote:
        if percent is None or fleet_db is None:
            raise click.UsageError("--promote needs --percent and --fleet-db")
        if not fleet_db.is_file():
            raise click.UsageError(f"{fleet_db}: no fleet log here")
        log = FleetLog(fleet_db)
        try:
            release = promote(
                repo,
                channel,
                percent,
                outcomes=log.outcomes,
                max_failure_rate=max_failure_rate,
                min_reports=min_reports,
            )
        finally:
            log.close()
        click.echo(f"promoted {describe(release)}")
        return
    if db is None:
        raise click.UsageError("--db is needed: the catalog to publish (or --promote/--refresh)")
    release = publish_release(
        repo, db, bundle=bundle, channel=channel, rollout=100.0 if percent is None else percent
    )
    click.echo(f"published {describe(release)}")
    click.echo(f"next: serve {repo / 'public'} to the kiosks; widen with --promote", err=True)


@publish.command("init")
@REPO_OPTION
def init(repo: Path | None) -> None:
    """Make a new release repository: its keys and first signed metadata.

    keys/root.pem signs only the root of trust: move it to offline storage after this.
    Install public/metadata/1.root.json on every kiosk as /etc/aislelens/update-root.json.

    \b
    Example:
      aislelens publish init --repo /srv/aislelens-releases
    """
    if repo is None:
        raise click.UsageError("--repo is needed (or $AISLELENS_PUBLISH_REPO)")
    init_repository(repo)
    click.echo(f"made {repo}: keys in {repo / 'keys'}, to serve: {repo / 'public'}")
    click.echo(
        f"next: copy {repo / 'public/metadata/1.root.json'} to each kiosk as "
        "/etc/aislelens/update-root.json, and keys/root.pem to offline storage",
        err=True,
    )


@publish.command("rotate-key")
@REPO_OPTION
@click.option("--role", type=click.Choice(["online", "root"]), required=True,
              help="online: the key that signs every publish (e.g. leaked); root: the root key.")  # fmt: skip
def rotate_key(repo: Path | None, role: str) -> None:
    """Replace a signing key; kiosks follow at their next update (a new signed root).

    Needs keys/root.pem back from offline storage. A leaked online key is revoked by this:
    the new root no longer trusts it.

    \b
    Example:
      aislelens publish rotate-key --repo /srv/aislelens-releases --role online
    """
    if repo is None:
        raise click.UsageError("--repo is needed (or $AISLELENS_PUBLISH_REPO)")
    keyid = Repository(repo).rotate(role)
    click.echo(json.dumps({"role": role, "new_keyid": keyid}))


@publish.command("serve")
@REPO_OPTION
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8701, show_default=True, type=click.IntRange(1, 65535))
def serve_repo(repo: Path | None, host: str, port: int) -> None:
    """Serve REPO/public to the kiosks over HTTP (with Range requests, so downloads resume).

    What it serves is signed; the kiosks verify it. Any static web server that honours Range
    requests (nginx, caddy) can serve the same folder instead.

    \b
    Example:
      aislelens publish serve --repo /srv/aislelens-releases --host 0.0.0.0 --port 8701
    """
    if repo is None:
        raise click.UsageError("--repo is needed (or $AISLELENS_PUBLISH_REPO)")
    from .publish_server import make_server

    try:
        server = make_server(repo, host, port)
    except FileNotFoundError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"serving {repo / 'public'} on http://{host}:{server.server_port}/", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


__all__ = ["PublishError", "publish"]
