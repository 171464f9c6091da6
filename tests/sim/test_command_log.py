"""The emulated chips remember the commands they heard, for tests, but only the latest.

A sim node samples its SGP40 every 10 s for as long as it runs: a chip that
kept every command ran a long simulation out of memory (issue 9, hole 6).
Here each chip hears thousands of valid commands on CPython (its clock is
MicroPython's ticks_ms, given from time.monotonic) and keeps a bounded log
whose end is what it heard last.
"""

import time
from collections.abc import Iterator
from types import ModuleType

import pytest

MANY = 5000


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.setattr(time, "ticks_ms", lambda: time.monotonic_ns() // 1_000_000, raising=False)
    import sim.clock
    import sim.history
    import sim.pms5003
    import sim.scd4x
    import sim.sds011
    import sim.sgp40

    yield sim


def commands(sim: ModuleType, chip: object, command: bytes, n: int) -> None:
    """n times: the command, and the 10 ms of sim time the chip may take over it."""
    for _ in range(n):
        assert chip.write(command)  # type: ignore[attr-defined]
        sim.clock.skip(10)


def test_the_sgp40_keeps_only_its_latest_commands(sim: ModuleType) -> None:
    chip = sim.sgp40.SGP40()
    commands(sim, chip, b"\x36\x15", MANY)  # sgp4x_turn_heater_off
    assert 0 < len(chip.commands) <= sim.history.KEPT < MANY
    assert chip.commands[-1] == 0x3615


def test_the_scd41_keeps_only_its_latest_commands(sim: ModuleType) -> None:
    chip = sim.scd4x.SCD41()
    commands(sim, chip, b"\x36\x82", MANY)  # get_serial_number
    assert 0 < len(chip.commands) <= sim.history.KEPT < MANY
    assert chip.commands[-1] == 0x3682


def test_the_pm_sensors_keep_only_their_latest_commands(sim: ModuleType) -> None:
    pms = sim.pms5003.PMS5003()
    sds = sim.sds011.SDS011()
    for _ in range(MANY):
        pms.receive(bytes.fromhex("424de200000171"))  # read, from the manual
        sds.receive(bytes.fromhex("aab404000000000000000000000000ffff02ab"))  # query data
    assert 0 < len(pms.commands) <= sim.history.KEPT < MANY
    assert pms.commands[-1] == (0xE2, 0)
    assert 0 < len(sds.commands) <= sim.history.KEPT < MANY
    assert sds.commands[-1] == bytes.fromhex("040000")
