"""What the chips of the board files allow: GPIOs, buses and radios, from their datasheets.

Data only; board_rules.py holds the rules that read it. A board with a chip or a MicroPython
firmware that is not here yet needs its row in MCUS or FIRMWARES (docs/boards.md, "Adding a
board").

Sources, all from the chip makers:
- ESP32 datasheet, "Pin Description" and "Strapping Pins": GPIO 6-11 are the SPI flash
  interface; GPIO 34-39 are input-only with no pull-up/pull-down; ADC1 is GPIO 32-39 and
  ADC2 (the rest) is unusable while the Wi-Fi/Bluetooth radio runs. GPIO 20, 24 and 28-31
  do not exist. GPIO 0, 2, 5, 12 and 15 are strapping pins; GPIO 1 and 3 are UART0, the
  console. ESP32-PICO-D4 datasheet: GPIO 16/17 connect the in-package flash;
  ESP32-WROVER(-E) datasheet: GPIO 16/17 connect the PSRAM.
- ESP32-S3 datasheet, "Pin Overview" and "Strapping Pins": GPIO 22-25 do not exist; GPIO
  26-32 are the SPI flash/PSRAM interface; GPIO 33-37 are too on chips with octal flash or
  PSRAM; ADC1 is GPIO 1-10; GPIO 0, 3, 45 and 46 are strapping pins; GPIO 19 and 20
  are the USB D- and D+, GPIO 43 and 44 UART0.
- RP2040 datasheet, section 1.4.3 "GPIO Functions" (the F1 SPI / F2 UART / F3 I2C columns
  are the table RP2040_FUNCTIONS below); Pico and Pico W datasheets, "Raspberry Pi Pico
  pinout" (GPIO 23, 24, 25 and 29 are board-internal).
- Semtech SX1261/2 datasheet, 13.3.6 SetDIO3AsTCXOCtrl: the TCXO voltages.
"""

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Mcu:
    port: str  # the MicroPython port
    arch: str  # mpy-cross -march
    gpios: frozenset[int]  # the GPIOs that exist
    reserved: dict[int, str]  # never usable on any board with this chip, and why
    input_only: frozenset[int]  # no output driver, no pull-up (ESP32 34-39)
    adc: frozenset[int]  # usable by the battery monitor with the radios running
    i2c_ids: frozenset[int]
    spi_ids: frozenset[int]
    uart_ids: frozenset[int]  # UART0 of the ESP32s is the REPL console
    # Allowed, but never suggested as the pin to write instead: the strapping pins, sampled
    # at reset to choose the boot mode (the boards use GPIO0 as their maintenance button),
    # and the pins of the REPL console and the USB.
    avoid: frozenset[int] = frozenset()


_ESP32_RESERVED = {pin: "SPI flash" for pin in range(6, 12)} | {
    # Conservative on purpose: a board file must be right for every module of its board
    # (DevKitC comes with WROOM or WROVER), and the LILYGO T3's ESP32-PICO-D4 wires them
    # to its flash.
    16: "in-package flash (ESP32-PICO-D4) or PSRAM (WROVER)",
    17: "in-package flash (ESP32-PICO-D4) or PSRAM (WROVER)",
}
MCUS = {
    "ESP32": Mcu(
        port="esp32",
        arch="xtensawin",
        gpios=frozenset([*range(20), 21, 22, 23, 25, 26, 27, *range(32, 40)]),
        reserved=_ESP32_RESERVED,
        input_only=frozenset(range(34, 40)),
        adc=frozenset(range(32, 40)),  # ADC1 only: ADC2 belongs to the Wi-Fi/BT driver
        i2c_ids=frozenset({0, 1}),
        spi_ids=frozenset({1, 2}),
        uart_ids=frozenset({1, 2}),
        avoid=frozenset({0, 2, 5, 12, 15} | {1, 3}),  # strapping; UART0 TXD, RXD
    ),
    "ESP32-S3": Mcu(
        port="esp32",
        arch="xtensawin",
        gpios=frozenset([*range(22), *range(26, 49)]),
        reserved={pin: "SPI flash/PSRAM" for pin in range(26, 33)},
        input_only=frozenset(),
        adc=frozenset(range(1, 11)),  # ADC1
        i2c_ids=frozenset({0, 1}),
        spi_ids=frozenset({1, 2}),
        uart_ids=frozenset({1, 2}),
        avoid=frozenset({0, 3, 45, 46} | {19, 20} | {43, 44}),  # strapping; USB D-, D+; UART0
    ),
    "RP2040": Mcu(
        port="rp2",
        arch="armv6m",
        gpios=frozenset(range(30)),
        reserved={},
        input_only=frozenset(),
        adc=frozenset(range(26, 30)),
        i2c_ids=frozenset({0, 1}),
        spi_ids=frozenset({0, 1}),
        uart_ids=frozenset({0, 1}),  # the REPL is on USB
    ),
}
# On chips with octal flash or PSRAM (the ..._S3-SPIRAM_OCT firmware) 33-37 are taken too.
OCTAL_RESERVED = {pin: "octal flash/PSRAM" for pin in range(33, 38)}
OCTAL_SUFFIX = "-SPIRAM_OCT"


@dataclass(frozen=True)
class Firmware:
    mcu: str
    ble: bool  # has a Bluetooth LE radio
    names: frozenset[str]  # pin names (not GPIO numbers) MicroPython defines
    # Board-internal pins: {gpio: (what it is, the role a board file may give it or None)}
    internal: dict[int, tuple[str, str | None]]


FIRMWARES = {
    "ESP32_GENERIC": Firmware("ESP32", True, frozenset(), {}),
    "ESP32_GENERIC_S3": Firmware("ESP32-S3", True, frozenset(), {}),
    "RPI_PICO": Firmware(
        "RP2040",
        False,
        frozenset(),
        {
            23: ("the SMPS power-save control", None),
            24: ("the VBUS sense", "vbus_pin"),
            25: ("the LED", "led"),
            29: ("the VSYS/3 sense", "battery.pin"),
        },
    ),
    "RPI_PICO_W": Firmware(
        "RP2040",
        True,
        # ports/rp2/boards/RPI_PICO_W/pins.csv: the CYW43's own GPIOs
        frozenset({"LED", "WL_GPIO0", "WL_GPIO1", "WL_GPIO2"}),
        {
            23: ("the CYW43 power (WL_ON)", None),
            24: ("the CYW43 SPI data and IRQ", None),
            25: ("the CYW43 SPI chip select", None),
            29: ("the CYW43 SPI clock (shared with VSYS/3)", None),
        },
    ),
}
FIRMWARE_NAME = re.compile(r"^([A-Z0-9_]+)(?:-([A-Z0-9_]+))?$")  # BOARD or BOARD-VARIANT

# RP2040 datasheet 1.4.3, the F1 (SPI), F2 (UART) and F3 (I2C) columns. MicroPython's
# MOSI is the SPI's TX, MISO its RX.
RP2040_FUNCTIONS: dict[int, tuple[str, str, str]] = {
    0: ("SPI0 RX", "UART0 TX", "I2C0 SDA"),
    1: ("SPI0 CSn", "UART0 RX", "I2C0 SCL"),
    2: ("SPI0 SCK", "UART0 CTS", "I2C1 SDA"),
    3: ("SPI0 TX", "UART0 RTS", "I2C1 SCL"),
    4: ("SPI0 RX", "UART1 TX", "I2C0 SDA"),
    5: ("SPI0 CSn", "UART1 RX", "I2C0 SCL"),
    6: ("SPI0 SCK", "UART1 CTS", "I2C1 SDA"),
    7: ("SPI0 TX", "UART1 RTS", "I2C1 SCL"),
    8: ("SPI1 RX", "UART1 TX", "I2C0 SDA"),
    9: ("SPI1 CSn", "UART1 RX", "I2C0 SCL"),
    10: ("SPI1 SCK", "UART1 CTS", "I2C1 SDA"),
    11: ("SPI1 TX", "UART1 RTS", "I2C1 SCL"),
    12: ("SPI1 RX", "UART0 TX", "I2C0 SDA"),
    13: ("SPI1 CSn", "UART0 RX", "I2C0 SCL"),
    14: ("SPI1 SCK", "UART0 CTS", "I2C1 SDA"),
    15: ("SPI1 TX", "UART0 RTS", "I2C1 SCL"),
    16: ("SPI0 RX", "UART0 TX", "I2C0 SDA"),
    17: ("SPI0 CSn", "UART0 RX", "I2C0 SCL"),
    18: ("SPI0 SCK", "UART0 CTS", "I2C1 SDA"),
    19: ("SPI0 TX", "UART0 RTS", "I2C1 SCL"),
    20: ("SPI0 RX", "UART1 TX", "I2C0 SDA"),
    21: ("SPI0 CSn", "UART1 RX", "I2C0 SCL"),
    22: ("SPI0 SCK", "UART1 CTS", "I2C1 SDA"),
    23: ("SPI0 TX", "UART1 RTS", "I2C1 SCL"),
    24: ("SPI1 RX", "UART1 TX", "I2C0 SDA"),
    25: ("SPI1 CSn", "UART1 RX", "I2C0 SCL"),
    26: ("SPI1 SCK", "UART1 CTS", "I2C1 SDA"),
    27: ("SPI1 TX", "UART1 RTS", "I2C1 SCL"),
    28: ("SPI1 RX", "UART0 TX", "I2C0 SDA"),
    29: ("SPI1 CSn", "UART0 RX", "I2C0 SCL"),
}
# The signal each bus role needs on the RP2040, "{}" standing for the bus id.
RP2040_ROLE_SIGNAL = {
    "i2c.sda": "I2C{} SDA",
    "i2c.scl": "I2C{} SCL",
    "spi.sck": "SPI{} SCK",
    "spi.mosi": "SPI{} TX",
    "spi.miso": "SPI{} RX",
    "uart.tx": "UART{} TX",
    "uart.rx": "UART{} RX",
    "link.tx": "UART{} TX",
    "link.rx": "UART{} RX",
}

RADIO_PACKAGES = {
    "sx1261": "lora-sx126x",
    "sx1262": "lora-sx126x",
    "sx1272": "lora-sx127x",
    "sx1276": "lora-sx127x",
    "sx1277": "lora-sx127x",
    "sx1278": "lora-sx127x",
    "sx1279": "lora-sx127x",
}
TCXO_MILLIVOLTS = frozenset({1600, 1700, 1800, 2200, 2400, 2700, 3000, 3300})
