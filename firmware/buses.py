"""Buses and pins from a board file's entries: what ESP32 and RP2040 share.

The port modules (port_esp32, port_rp2) re-export these; node.py and
sensors.py reach them as port.i2c(), port.uart(), ... like the sim's.
"""

import machine


def pin_held(pin: int) -> bool:
    """A button to ground (BOOT on most ESP32 boards) held down at boot."""
    return machine.Pin(pin, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def usb_power(pin: int | str | None) -> bool:
    return pin is not None and machine.Pin(pin, machine.Pin.IN).value() == 1


def pin(n: int | str) -> machine.Pin:
    return machine.Pin(n)


def pin_out(n: int, value: int) -> machine.Pin:
    p = machine.Pin(n, machine.Pin.OUT)
    p.value(value)
    return p


def i2c(cfg: dict) -> machine.I2C:  # type: ignore[type-arg]
    return machine.I2C(
        cfg["id"], scl=machine.Pin(cfg["scl"]), sda=machine.Pin(cfg["sda"]), freq=cfg["freq"]
    )


def uart(cfg: dict, baudrate: int) -> machine.UART:  # type: ignore[type-arg]
    return machine.UART(
        cfg["id"],
        baudrate=baudrate,
        tx=machine.Pin(cfg["tx"]),
        rx=machine.Pin(cfg["rx"]),
        timeout=0,
    )


def link(cfg: dict | str) -> machine.UART:  # type: ignore[type-arg]
    if cfg == "usb":
        raise OSError("the USB console is the REPL: write frames with sys.stdout.buffer")
    assert isinstance(cfg, dict)
    return uart(cfg, cfg["baud"])


def spi(cfg: dict) -> machine.SPI:  # type: ignore[type-arg]
    return machine.SPI(
        cfg["id"],
        baudrate=cfg.get("baudrate", 2000000),
        sck=machine.Pin(cfg["sck"]),
        mosi=machine.Pin(cfg["mosi"]),
        miso=machine.Pin(cfg["miso"]),
    )


def ble() -> object:
    import bluetooth

    return bluetooth.BLE()
