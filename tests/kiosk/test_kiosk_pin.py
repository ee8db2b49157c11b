"""The staff PIN cannot be brute-forced at the keypad: an increasing delay, then a logged
lockout; PINs the keypad cannot type are refused by the settings."""

from __future__ import annotations

import logging

import pytest

from kiosk.errors import SettingsError
from kiosk.pin import PinGuard
from kiosk.settings import load_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_three_wrong_pins_are_free_then_the_wait_doubles_and_the_tenth_locks(caplog):
    clock = Clock()
    guard = PinGuard("4321", clock)
    caplog.set_level(logging.INFO, logger="kiosk.pin")
    waits = []
    for _ in range(10):
        clock.now += guard.wait_s()  # the attacker waits exactly as long as needed
        waits.append(guard.check("0000").wait_s)
    assert waits == [0, 0, 0, 2, 4, 8, 16, 32, 64, 900]
    assert "keypad locked for 15 min" in caplog.text
    clock.now += 899
    locked = guard.check("4321")  # even the right PIN waits out the lockout
    assert not locked.ok and locked.locked and locked.wait_s == pytest.approx(1)
    clock.now += 1
    assert guard.check("4321").ok and guard.failures == 0


def test_tries_during_the_delay_are_refused_without_being_checked():
    clock = Clock()
    guard = PinGuard("4321", clock)
    for _ in range(4):
        guard.check("0000")
    assert guard.wait_s() == 2
    refused = guard.check("4321")
    assert not refused.ok and refused.wait_s == 2 and guard.failures == 4


def test_all_four_digit_pins_through_the_guard_take_days_not_a_second():
    clock = Clock()
    guard = PinGuard("9999", clock)
    start = clock.now
    for n in range(10_000):
        clock.now += guard.wait_s()
        if guard.check(f"{n:04d}").ok:
            break
    assert (clock.now - start) / 86400 > 7


def test_the_default_pin_is_known_and_keypad_untypable_pins_are_refused():
    assert PinGuard("2468").is_default and not PinGuard("4321").is_default
    for pin in ("１２３４", "²²²²", "12a4", "123", "123456789"):
        with pytest.raises(SettingsError, match=r"ui\.staff_pin"):
            load_settings(ui={"staff_pin": pin})
    assert load_settings(ui={"staff_pin": "00001234"}).ui.staff_pin.get_secret_value() == "00001234"
