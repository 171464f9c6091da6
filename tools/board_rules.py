"""What makes a board file right: its schema (board_schema.py), then the rules of its chip.

A wrong pin in a board file shows up on the node as a board that does not boot (a flash
pin), a bus that says "bad SCL pin" (RP2040), a battery that always reads 0 (an ADC2 pin
while the radio is on), or a radio that never raises its interrupt. These rules find
those before a technician does: `meteolink boards check` runs them on a file of the
user's, `meteolink flash` before it flashes, tests/boards on every file of boards/.

No I/O: the parsed JSON in, a list of Problems out, each naming the key, what is wrong
and what to write instead. The chips' data are in chips.py; docs/boards.md says the rules
in words.
"""

from dataclasses import dataclass
from typing import Any

from meteolink.tools.board_schema import VIRTUAL_PORT, Problem, schema_problems
from meteolink.tools.chips import (
    FIRMWARE_NAME,
    FIRMWARES,
    MCUS,
    OCTAL_RESERVED,
    OCTAL_SUFFIX,
    RADIO_PACKAGES,
    RP2040_FUNCTIONS,
    RP2040_ROLE_SIGNAL,
    TCXO_MILLIVOLTS,
    Firmware,
    Mcu,
)

# Roles whose pin the MCU drives (I2C lines are open-drain outputs), and the maintenance
# button, which needs the internal pull-up.
OUTPUT_ROLES = frozenset(
    {
        "i2c.scl",
        "i2c.sda",
        "uart.tx",
        "link.tx",
        "spi.sck",
        "spi.mosi",
        "radio.cs",
        "radio.reset",
        "radio.ant_switch",
        "battery.enable",
        "sensor_power.pin",
        "led",
    }
)
# The one legitimate double use: on the Heltec V2 one P-MOSFET, gated by GPIO21, switches
# both Vext and the battery divider, so both roles name the pin (with the same level).
SHARED_OK = frozenset({frozenset({"battery.enable", "sensor_power.pin"})})


def pins(board: dict[str, Any]) -> list[tuple[str, int | str]]:
    """Every pin the board file names, as (role, pin); nulls left out."""
    out: list[tuple[str, int | str]] = []
    for group, keys in (
        ("i2c", ("scl", "sda")),
        ("uart", ("tx", "rx")),
        ("link", ("tx", "rx")),
        ("spi", ("sck", "mosi", "miso")),
        ("radio", ("cs", "reset", "dio0", "dio1", "busy", "ant_switch")),
        ("battery", ("pin", "enable")),
        ("sensor_power", ("pin",)),
    ):
        section = board[group]
        if isinstance(section, dict):
            out += [(f"{group}.{k}", section[k]) for k in keys if section[k] is not None]
    out += [(k, board[k]) for k in ("maintenance_pin", "vbus_pin", "led") if board[k] is not None]
    return out


@dataclass(frozen=True)
class _Chip:
    """A board file that passed the schema, with what its chip and firmware allow."""

    board: dict[str, Any]
    mcu: Mcu
    fw: Firmware
    reserved: dict[int, str]

    @property
    def gp(self) -> str:
        """How the chip maker spells a pin: GP5 on the RP2040, GPIO5 elsewhere."""
        return "GP" if self.board["mcu"] == "RP2040" else "GPIO"

    def fits(self, role: str, pin: int) -> bool:
        """May this pin take this role (its use by other roles aside)?"""
        mcu = self.mcu
        if pin not in mcu.gpios or pin in self.reserved:
            return False
        if pin in self.fw.internal and self.fw.internal[pin][1] != role:
            return False
        if pin in mcu.input_only and (role in OUTPUT_ROLES or role == "maintenance_pin"):
            return False
        if role == "battery.pin" and pin not in mcu.adc:
            return False
        return self.board["mcu"] != "RP2040" or self.signal(role) in (
            None,
            *RP2040_FUNCTIONS[pin],
        )

    def signal(self, role: str) -> str | None:
        """The RP2040 function a bus role needs: "I2C1 SDA" for i2c.sda on bus 1."""
        template = RP2040_ROLE_SIGNAL.get(role)
        return None if template is None else template.format(self.board[role.split(".")[0]]["id"])

    def instead(self, role: str) -> str:
        """What to write instead: the free pins that fit the role."""
        used = {pin for r, pin in pins(self.board) if r != role}
        free = [
            p
            for p in sorted(self.mcu.gpios)
            if p not in used and p not in self.mcu.avoid and self.fits(role, p)
        ]
        if not free:
            return f"no free pin fits {role}: move another role off one"
        shown = ", ".join(f"{self.gp}{p}" for p in free[:8]) + (", ..." if len(free) > 8 else "")
        return f"write a free pin that fits {role}: {shown}"


def _platform(board: dict[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    mcu = MCUS.get(board["mcu"])
    if mcu is None:
        return [
            Problem(
                "mcu",
                f"{board['mcu']!r} is none of {sorted(MCUS)}",
                "write one of them; a new chip needs its datasheet's rules in"
                " meteolink/tools/chips.py first (docs/boards.md, Adding a board)",
            )
        ]
    if board["port"] != mcu.port:
        out.append(
            Problem(
                "port",
                f"{board['mcu']} runs the {mcu.port!r} port, not {board['port']!r}",
                f'write "{mcu.port}"',
            )
        )
    if board["arch"] != mcu.arch:
        out.append(
            Problem(
                "arch",
                f"mpy-cross -march for {board['mcu']} is {mcu.arch!r}",
                f'write "{mcu.arch}"',
            )
        )
    builds = " or ".join(f'"{n}"' for n, f in FIRMWARES.items() if f.mcu == board["mcu"])
    instead = f"write {builds}, with a -VARIANT where one is needed"
    m = FIRMWARE_NAME.match(board["firmware"])
    fw = FIRMWARES.get(m.group(1)) if m else None
    if fw is None:
        out.append(
            Problem(
                "firmware",
                f"{board['firmware']!r} is not one of {sorted(FIRMWARES)}[-VARIANT]",
                instead,
            )
        )
    elif fw.mcu != board["mcu"]:
        out.append(
            Problem("firmware", f"{board['firmware']} is for {fw.mcu}, not {board['mcu']}", instead)
        )
    elif board["ble"] and not fw.ble:
        out.append(
            Problem("ble", f"{board['firmware']} boards have no Bluetooth LE radio", "write false")
        )
    return out


def _buses(chip: _Chip) -> list[Problem]:
    board, mcu = chip.board, chip.mcu
    out: list[Problem] = []
    ids = {"i2c": mcu.i2c_ids, "spi": mcu.spi_ids, "uart": mcu.uart_ids, "link": mcu.uart_ids}
    link = board["link"]
    # The sensor UART and the link each need a UART of their own.
    other = {"uart": link["id"] if isinstance(link, dict) else None, "link": board["uart"]["id"]}
    for group, allowed in ids.items():
        section = board[group]
        if isinstance(section, dict) and section["id"] not in allowed:
            free = sorted(allowed - {other.get(group)})
            out.append(
                Problem(
                    f"{group}.id",
                    f"{board['mcu']} has {group} ids {sorted(allowed)}",
                    f"write {' or '.join(str(i) for i in free)}",
                )
            )
    if isinstance(link, dict):
        if link["id"] == board["uart"]["id"]:
            others = sorted(mcu.uart_ids - {link["id"]})
            out.append(
                Problem(
                    "link.id",
                    f"UART{link['id']} is already the sensor UART",
                    f"write {' or '.join(str(i) for i in others)}, a UART of its own",
                )
            )
        if not 300 <= link["baud"] <= 4_000_000:
            out.append(
                Problem(
                    "link.baud",
                    f"{link['baud']} is outside 300..4000000",
                    "write the gateway's baud rate, such as 115200",
                )
            )
    if not 10_000 <= board["i2c"]["freq"] <= 400_000:
        out.append(
            Problem(
                "i2c.freq",
                f"{board['i2c']['freq']} Hz is outside 10 kHz..400 kHz",
                "write 100000 (standard mode) or 400000 (fast mode)",
            )
        )
    return out


def _gpios(chip: _Chip) -> list[Problem]:
    board, mcu, fw = chip.board, chip.mcu, chip.fw
    out: list[Problem] = []
    by_pin: dict[int | str, list[str]] = {}
    octal: list[str] = []  # roles on the pins that the -SPIRAM_OCT firmware takes
    for role, pin in pins(board):
        by_pin.setdefault(pin, []).append(role)
        if isinstance(pin, str):
            if role not in ("vbus_pin", "led") or pin not in fw.names:
                names = sorted(fw.names) if role in ("vbus_pin", "led") else []
                write = f"write a GPIO number{' or one of ' + ', '.join(names) if names else ''}"
                out.append(
                    Problem(role, f"{pin!r} is not a pin name of {board['firmware']}", write)
                )
            continue
        if pin not in mcu.gpios:
            out.append(Problem(role, f"{board['mcu']} has no GPIO{pin}", chip.instead(role)))
            continue
        if pin in chip.reserved and pin not in mcu.reserved:
            octal.append(f"{role} GPIO{pin}")
        elif pin in chip.reserved:
            out.append(Problem(role, f"GPIO{pin} is the {chip.reserved[pin]}", chip.instead(role)))
        if pin in fw.internal:
            what, allowed_role = fw.internal[pin]
            if role != allowed_role:
                out.append(
                    Problem(
                        role,
                        f"GPIO{pin} is {what} on {board['firmware']} boards",
                        chip.instead(role),
                    )
                )
        if pin in mcu.input_only:
            if role in OUTPUT_ROLES:
                out.append(Problem(role, f"GPIO{pin} is input-only", chip.instead(role)))
            elif role == "maintenance_pin":
                out.append(
                    Problem(
                        role, f"GPIO{pin} has no internal pull-up for a button", chip.instead(role)
                    )
                )
    if octal:
        base = board["firmware"].removesuffix(OCTAL_SUFFIX)
        out.append(
            Problem(
                "firmware",
                f"{board['firmware']} gives GPIO33-37 to the octal flash/PSRAM, where"
                f" {', '.join(octal)} are",
                f'write "{base}" for a module with quad or no PSRAM; with octal, move those pins',
            )
        )
    if board["mcu"] == "RP2040":
        out += _rp2040_functions(chip)
    wrong = {p.key for p in out}
    for pin, roles in by_pin.items():
        if len(roles) > 1 and frozenset(roles) not in SHARED_OK:
            # The role that is wrong anyway is the one to move.
            role = next((r for r in reversed(roles) if r in wrong), roles[-1])
            name = f"GPIO{pin}" if isinstance(pin, int) else repr(pin)
            out.append(
                Problem(
                    role,
                    f"{name} is used twice: {', '.join(roles)}",
                    f"keep it for one; for {role}, {chip.instead(role)}",
                )
            )
    battery, power = board["battery"], board["sensor_power"]
    if (
        battery
        and power
        and battery["enable"] == power["pin"]
        and battery["enable_level"] != power["level"]
    ):
        out.append(
            Problem(
                "battery.enable_level",
                "battery.enable and sensor_power share a pin but not its active level",
                f"write {power['level']}, the sensor_power.level, if one transistor switches"
                " both; otherwise give them different pins",
            )
        )
    if battery:
        pin = battery["pin"]
        if isinstance(pin, int) and pin in mcu.gpios and pin not in mcu.adc:
            out.append(
                Problem(
                    "battery.pin",
                    f"GPIO{pin} is not an ADC pin usable with the radios on",
                    chip.instead("battery.pin"),
                )
            )
        if not 1.0 < battery["ratio"] <= 10.0:
            out.append(
                Problem(
                    "battery.ratio",
                    f"{battery['ratio']} is not a divider (Vbat / Vpin)",
                    "write the battery voltage over the pin voltage, above 1 and at most 10:"
                    " 2.0 for two equal resistors",
                )
            )
    return out


def _rp2040_functions(chip: _Chip) -> list[Problem]:
    """Each bus pin carries its bus's signal; pins all on another bus mean a wrong id."""
    buses: dict[str, list[tuple[str, int]]] = {}
    for role, pin in pins(chip.board):
        if chip.signal(role) is not None and isinstance(pin, int) and pin in RP2040_FUNCTIONS:
            buses.setdefault(role.split(".")[0], []).append((role, pin))
    out: list[Problem] = []
    for group, roles in buses.items():
        bad = [(r, p) for r, p in roles if chip.signal(r) not in RP2040_FUNCTIONS[p]]
        if not bad:
            continue
        bus = chip.board[group]["id"]
        kind = RP2040_ROLE_SIGNAL[roles[0][0]].split("{")[0]  # I2C, SPI, UART
        ids = {"i2c": chip.mcu.i2c_ids, "spi": chip.mcu.spi_ids}.get(group, chip.mcu.uart_ids)
        fits = [
            i
            for i in sorted(ids - {bus})
            if all(RP2040_ROLE_SIGNAL[r].format(i) in RP2040_FUNCTIONS[p] for r, p in roles)
        ]
        if fits:
            out.append(
                Problem(
                    f"{group}.id",
                    f"{', '.join(f'GP{p}' for _, p in roles)} carry {kind}{fits[0]},"
                    f" not {kind}{bus}",
                    f"write {fits[0]}, or move {', '.join(r for r, _ in bad)} to pins of"
                    f" {kind}{bus}",
                )
            )
            continue
        for role, pin in bad:
            have = " / ".join(RP2040_FUNCTIONS[pin])
            out.append(
                Problem(role, f"GP{pin} is {have}, not {chip.signal(role)}", chip.instead(role))
            )
    return out


def _radio(board: dict[str, Any]) -> list[Problem]:
    radio = board["radio"]
    if radio is None:
        return []
    chip = radio["chip"]
    out: list[Problem] = []
    if board["spi"] is None:
        out.append(
            Problem(
                "spi",
                "a radio needs the spi bus",
                "write the radio's bus: an object with id, sck, mosi, miso",
            )
        )
    package = RADIO_PACKAGES.get(chip)
    if package is None:
        out.append(
            Problem(
                "radio.chip",
                f"{chip!r} is none of {sorted(RADIO_PACKAGES)}",
                "write the LoRa chip of the board's schematic, one of them",
            )
        )
    elif radio["package"] != package:
        out.append(
            Problem("radio.package", f"the {chip} driver is {package!r}", f'write "{package}"')
        )
    pin = "write the GPIO wired to it, from the board's schematic"
    if package == "lora-sx126x":
        for key in ("busy", "dio1"):
            if radio[key] is None:
                out.append(Problem(f"radio.{key}", f"an {chip} needs its {key.upper()} pin", pin))
        if radio["dio0"] is not None:
            out.append(
                Problem("radio.dio0", f"an {chip} has no DIO0", "write null: its interrupt is dio1")
            )
        mv = radio["dio3_tcxo_millivolts"]
        if mv is not None and mv not in TCXO_MILLIVOLTS:
            out.append(
                Problem(
                    "radio.dio3_tcxo_millivolts",
                    f"{mv} is none of {sorted(TCXO_MILLIVOLTS)}",
                    "write the TCXO supply of the board's schematic, one of them,"
                    " or null without a TCXO",
                )
            )
    elif package == "lora-sx127x":
        if radio["dio0"] is None:
            out.append(Problem("radio.dio0", f"an {chip} signals TX/RX done on DIO0", pin))
        if radio["busy"] is not None:
            out.append(Problem("radio.busy", f"an {chip} has no BUSY pin", "write null"))
        if radio["dio2_rf_switch"] or radio["dio3_tcxo_millivolts"] is not None:
            out.append(
                Problem(
                    "radio",
                    f"DIO2 RF switch and DIO3 TCXO are SX126x features, not {package}",
                    'write "dio2_rf_switch": false, "dio3_tcxo_millivolts": null',
                )
            )
    return out


def problems(board: Any) -> list[Problem]:
    """What is wrong with a board file (its parsed JSON); [] when nothing is."""
    out = schema_problems(board)
    if out or board["port"] == VIRTUAL_PORT:  # the rules read the fields; unix has no pins
        return out
    out += _platform(board)
    if out:
        return out
    mcu = MCUS[board["mcu"]]
    reserved = dict(mcu.reserved)
    if board["firmware"].endswith(OCTAL_SUFFIX):
        reserved |= OCTAL_RESERVED
    chip = _Chip(board, mcu, FIRMWARES[board["firmware"].split("-")[0]], reserved)
    return _one_per_key(_buses(chip) + _gpios(chip) + _radio(board))


def _one_per_key(found: list[Problem]) -> list[Problem]:
    """One line per key: what is wrong with it, joined; the first fix."""
    merged: dict[str, Problem] = {}
    for p in found:
        first = merged.get(p.key)
        merged[p.key] = p if first is None else Problem(p.key, f"{first.what}; {p.what}", first.fix)
    return list(merged.values())
