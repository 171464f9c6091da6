"""The emulated SHT3x (sim/sht3x.py) driven by Sensirion's own Python driver.

sensirion-i2c-sht3x is Sensirion's driver for the chip, generated from their
model of it: its commands, waits, CRCs and conversions are not ours. Run
against the emulated chip, it must measure what the chip was set to, read its
status register as the datasheet lays it out, and see the reset and heater
commands act. Then the firmware's driver, held to the same chip under
MicroPython (tests/firmware/test_sensirion_rht.py), agrees with the vendor's.

The sim runs here on CPython; its clock is MicroPython's time.ticks_ms,
given to it from time.monotonic.
"""

import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from sensirion_driver_adapters.i2c_adapter.i2c_channel import I2cChannel
from sensirion_i2c_driver import I2cConnection
from sensirion_i2c_driver.crc_calculator import CrcCalculator
from sensirion_i2c_driver.transceiver_v1 import I2cTransceiverV1
from sensirion_i2c_sht3x.commands import Repeatability
from sensirion_i2c_sht3x.device import Sht3xDevice, StatusRegisterT


class SimTransceiver(I2cTransceiverV1):  # type: ignore[misc]
    """Sensirion's transceiver interface on the sim's I2C bus: a NACK is a status, not an error."""

    def __init__(self, bus: Any) -> None:
        super().__init__()
        self.bus = bus

    @property
    def description(self) -> str:
        return "meteolink sim I2C bus"

    @property
    def channel_count(self) -> None:
        return None  # one channel

    def transceive(
        self,
        slave_address: int,
        tx_data: bytes | None,
        rx_length: int | None,
        read_delay: float,
        timeout: float,
    ) -> tuple[int, Exception | None, bytes]:
        try:
            if tx_data is not None:
                self.bus.writeto(slave_address, tx_data)
            time.sleep(read_delay)
            data = b"" if not rx_length else self.bus.readfrom(slave_address, rx_length)
        except OSError as e:
            return self.STATUS_NACK, e, b""
        return self.STATUS_OK, None, data


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """sim.i2c and sim.sht3x on CPython, with MicroPython's millisecond clock."""
    monkeypatch.setattr(time, "ticks_ms", lambda: time.monotonic_ns() // 1_000_000, raising=False)
    import sim.i2c
    import sim.sht3x

    yield {"i2c": sim.i2c, "sht3x": sim.sht3x}


def sensirion_driver(sim: dict[str, ModuleType], chip: Any) -> Sht3xDevice:
    connection = I2cConnection(SimTransceiver(sim["i2c"].I2C(chip)))
    # Sensirion's CRC-8 for its I2C chips: polynomial 0x31, initial value 0xFF.
    channel = I2cChannel(connection, slave_address=chip.address, crc=CrcCalculator(8, 0x31, 0xFF))
    return Sht3xDevice(channel)


CONDITIONS = [(-30.0, 95.0), (-0.5, 99.0), (21.5, 45.0), (40.0, 10.0), (-40.0, 0.0), (125.0, 100.0)]


@pytest.mark.parametrize("repeatability", list(Repeatability))
@pytest.mark.parametrize("stretching", [False, True])
def test_sensirions_driver_measures_what_the_chip_was_set_to(
    sim: dict[str, ModuleType], repeatability: Repeatability, stretching: bool
) -> None:
    for temperature, humidity in CONDITIONS:
        chip = sim["sht3x"].SHT3x(temperature=temperature, humidity=humidity)
        t, rh = sensirion_driver(sim, chip).measure_single_shot(repeatability, stretching)
        # Half a tick: 175/65535/2 °C and 100/65535/2 %RH.
        assert t.value == pytest.approx(temperature, abs=0.0014)
        assert rh.value == pytest.approx(humidity, abs=0.0008)
        assert chip.measurements == 1


def test_sensirions_driver_reads_the_status_register_and_its_commands_act(
    sim: dict[str, ModuleType],
) -> None:
    chip = sim["sht3x"].SHT3x(address=0x45)
    sensor = sensirion_driver(sim, chip)
    status = sensor.read_status_register()
    assert isinstance(status, StatusRegisterT)
    assert (status.system_reset_detected, status.heater_status, status.command_status) == (1, 0, 0)
    sensor.clear_status_register()
    sensor.enable_heater()
    status = sensor.read_status_register()
    assert (status.system_reset_detected, status.heater_status) == (0, 1)
    sensor.disable_heater()
    assert sensor.read_status_register().heater_status == 0
    sensor.soft_reset()
    assert sensor.read_status_register().system_reset_detected == 1


def test_a_read_before_the_measurement_ends_is_not_acknowledged(
    sim: dict[str, ModuleType],
) -> None:
    """What makes the firmware's driver wait: Sensirion's, told to wait nothing, fails."""
    chip = sim["sht3x"].SHT3x()
    bus = sim["i2c"].I2C(chip)
    status, error, _ = SimTransceiver(bus).transceive(0x44, b"\x24\x00", 6, 0.0, 0.0)
    assert status == I2cTransceiverV1.STATUS_NACK and isinstance(error, OSError)
    assert chip.measurements == 0
