"""The kiosk's systemd unit: valid for systemd, and it denies the kiosk process any IP network
(defence in depth behind the kiosk's own "no network" promise)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "packaging/systemd/aislelens-kiosk.service"
METRICS_DROP_IN = UNIT.with_name("kiosk-metrics.conf")


def service_section(path: Path = UNIT) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values.setdefault(key, []).append(value)
    return values


def test_the_kiosk_unit_allows_no_ip_sockets_and_writes_only_its_state():
    s = service_section()
    families = " ".join(s["RestrictAddressFamilies"]).split()
    assert set(families) <= {"AF_UNIX", "AF_NETLINK"}  # no AF_INET / AF_INET6
    assert s["IPAddressDeny"] == ["any"]
    assert s["ProtectSystem"] == ["strict"] and s["ProtectHome"] == ["yes"]
    assert s["PrivateTmp"] == ["yes"] and s["NoNewPrivileges"] == ["yes"]
    assert s["User"] == ["aislelens"]
    env = " ".join(s["Environment"])
    assert "ORT_DISABLE_TELEMETRY=1" in env
    assert "/usr/bin/aislelens -v kiosk --config /etc/aislelens/kiosk.toml" in s["ExecStart"][0]
    # the log reaches journald, not the kiosk's tty; cage's -s (VT switching) is not given
    assert s["StandardOutput"] == ["journal"] and s["StandardError"] == ["journal"]
    assert " -s " not in s["ExecStart"][0].split("--")[0] + " "


def test_the_kiosk_unit_waits_for_ready_and_restarts_a_frozen_kiosk():
    s = service_section()
    assert s["Type"] == ["notify"] and s["NotifyAccess"] == ["all"]  # the kiosk runs under cage
    assert int(s["WatchdogSec"][0]) >= 10 and s["Restart"] == ["on-failure"]


@pytest.mark.parametrize("drop_in", [False, True], ids=["unit", "with the metrics drop-in"])
def test_systemd_accepts_the_kiosk_unit(tmp_path, drop_in):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    # verify checks that the commands exist: point them at one that does on any machine
    text = UNIT.read_text().replace("/usr/bin/cage -d -- /usr/bin/aislelens", "/bin/true")
    text = text.replace("/usr/bin/aislelens update", "/bin/true")
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    if drop_in:
        (tmp_path / f"{UNIT.name}.d").mkdir()
        shutil.copy(METRICS_DROP_IN, tmp_path / f"{UNIT.name}.d/metrics.conf")
    out = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    problems = [line for line in out.stderr.splitlines() if UNIT.name in line]
    assert out.returncode == 0 and problems == [], out.stderr


def test_systemd_leaves_room_for_a_release_probation_and_the_way_back():
    """A release that never gets READY takes max_start_attempts starts, then one more on the
    release before: systemd must not give up on the unit before that."""
    from kiosk.settings import UpdateSettings

    unit = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("StartLimit"):
            key, value = line.split("=", 1)
            unit[key] = int(value)
    attempts = UpdateSettings().max_start_attempts
    assert unit["StartLimitBurst"] >= attempts + 1 + 3  # and a few ordinary restarts
    assert unit["StartLimitIntervalSec"] >= 300


def test_a_new_release_is_counted_before_each_kiosk_start():
    """ExecStartPre runs `aislelens update --boot`: it switches back from a release that never
    got READY, and never blocks a start ("-")."""
    s = service_section()
    assert s["ExecStartPre"] == [
        "-/usr/bin/aislelens update --boot --config /etc/aislelens/kiosk.toml"
    ]


def test_the_updater_runs_on_a_timer_only_once_a_trusted_root_is_installed():
    update = UNIT.with_name("aislelens-update.service").read_text()
    timer = UNIT.with_name("aislelens-update.timer").read_text()
    assert "ConditionPathExists=/etc/aislelens/update-root.json" in update
    assert "update --once --config /etc/aislelens/kiosk.toml" in update
    assert "User=aislelens" in update and "Type=oneshot" in update
    assert "OnUnitActiveSec=" in timer and "WantedBy=timers.target" in timer


def test_the_metrics_drop_in_lets_the_kiosk_listen_on_loopback_only():
    """[metrics] enabled needs the drop-in the package ships: IPv4 sockets, loopback only."""
    unit, drop = service_section(), service_section(METRICS_DROP_IN)
    families = " ".join(drop["RestrictAddressFamilies"]).split()  # merged with the unit's list
    assert set(families) == {"AF_UNIX", "AF_NETLINK", "AF_INET"}
    assert unit["IPAddressDeny"] == ["any"] and "IPAddressDeny" not in drop
    assert drop["IPAddressAllow"] == ["localhost"]
    nfpm = (UNIT.parents[1] / "nfpm.yaml").read_text()
    assert "src: packaging/systemd/kiosk-metrics.conf" in nfpm
    assert "dst: /usr/share/aislelens/kiosk-metrics.conf" in nfpm
