"""Every configuration example a person may copy loads with the gateway's own config.load.

A municipality's IT person builds /etc/meteolink/gateway.toml from the ```toml blocks of
docs/*.md and from deploy/gateway.toml, uncommenting what they need. An example that
does not load (a duplicate table, a key renamed since, a value out of range) fails
here, not on a Pi in the field.

What is checked:
- each ```toml block of docs/*.md and README.md, as written, and again with its
  commented `# key = value` lines uncommented (they are offered as options);
- deploy/gateway.toml as installed, and once per paragraph (a run of lines between
  blank lines) with that paragraph's commented tables and keys uncommented, the rest
  of the file as it is;
- every section an example names is taken up by its part (its settings are not None:
  an example that loads but turns nothing on would teach nothing).

Filled in for the test, because the loader checks that the file exists: every
`ca_file` path (/etc/meteolink/ca.pem, /etc/meteolink/broker-ca.pem) becomes an
empty file in the test's directory. Nothing else is changed: the serial ports and the
data directory are not opened by config.load. Each file is written 0600, as the
secrets in it require (gateway/config.py refuses a secret others may read).
"""

import os
import re
import textwrap
from pathlib import Path
from typing import NamedTuple

import pytest

from meteolink.gateway import config, parts
from tests.support.tools import ROOT

# A fence with ```toml, at any indent (docs/ble.md has one inside a numbered list).
FENCE = re.compile(r"^([ \t]*)```toml[ \t]*\n(.*?)^\1```[ \t]*$", re.S | re.M)
# A commented table header or key line: "# [influxdb]", "# [[lorawan]]", "# url = ...".
COMMENTED = re.compile(r"^# ((?:\[\[?[\w.]+\]\]?|[a-z_][a-z0-9_]* = ).*)$", re.M)
CA_FILE = re.compile(r'^(ca_file = )"[^"]*"', re.M)

# A commented ca_file beside a plain url (mqtt://, http://) is an option for when the url
# is made TLS, not for the example as it stands: it stays commented there.
PLAIN_URL = re.compile(r'^url = "(mqtt|http)://', re.M)
DEPLOY = ROOT / "deploy" / "gateway.toml"


class Example(NamedTuple):
    where: str  # file:line, for the test's id and messages
    text: str


def docs_examples() -> list[Example]:
    found = []
    for page in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        text = page.read_text("utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append(Example(f"{page.relative_to(ROOT)}:{line}", textwrap.dedent(m.group(2))))
    return found


def uncommented(text: str) -> str:
    return COMMENTED.sub(r"\1", text)


def deploy_variants() -> list[Example]:
    """deploy/gateway.toml with one paragraph's options uncommented at a time."""
    text = DEPLOY.read_text("utf-8")
    paragraphs = text.split("\n\n")
    out = []
    for i, paragraph in enumerate(paragraphs):
        on = uncommented(paragraph)
        if on == paragraph:
            continue
        if PLAIN_URL.search(on):
            on = re.sub(r"^(ca_file = .*)$", r"# \1", on, flags=re.M)
        line = text.count("\n", 0, text.index(paragraph)) + 1
        whole = "\n\n".join([*paragraphs[:i], on, *paragraphs[i + 1 :]])
        out.append(Example(f"deploy/gateway.toml:{line}", whole))
    return out


def load(example: Example, directory: Path) -> config.Config:
    """example.text through config.load, from a 0600 file, its ca_file paths made real."""
    ca = directory / "ca.pem"
    ca.write_text("")
    text = CA_FILE.sub(lambda m: f'{m.group(1)}"{ca}"', example.text)
    path = directory / "gateway.toml"
    path.write_text(text, "utf-8")
    os.chmod(path, 0o600)
    try:
        return config.load(path)
    except config.ConfigError as e:
        pytest.fail(f"{example.where}: the example does not load: {e}\n{example.text}")


def sections(text: str) -> set[str]:
    """The top-level tables a TOML text's headers name ([influxdb], [[lorawan]], [nodes.3])."""
    return set(re.findall(r"^\[\[?(\w+)", text, re.M))


def assert_taken_up(example: Example, loaded: config.Config) -> None:
    every = {**parts.INPUTS, **parts.UPSTREAMS}
    for name, part in every.items():
        section = part.section or name
        if section in sections(example.text):
            assert loaded.parts.get(name) not in (None, [], ()), (
                f"{example.where}: [{section}] loads but turns nothing on"
            )


DOCS = docs_examples()


def test_the_examples_are_found() -> None:
    """The extraction finds the pages' examples (a changed fence would find none)."""
    pages = {e.where.split(":")[0] for e in DOCS}
    assert {"docs/gateway.md", "docs/ble.md", "docs/status-page.md"} <= pages
    named = set().union(*(sections(e.text) for e in DOCS))
    # docs/gateway.md has an example for each upstream and input of issue 13.
    assert {"influxdb", "ngsi_ld", "sensor_community", "opensensemap", "lorawan"} <= named
    assert {"federation", "mqtt"} <= named


@pytest.mark.parametrize("example", DOCS, ids=[e.where for e in DOCS])
def test_a_docs_example_loads(example: Example, tmp_path: Path) -> None:
    assert_taken_up(example, load(example, tmp_path))


@pytest.mark.parametrize("example", DOCS, ids=[e.where for e in DOCS])
def test_a_docs_example_loads_with_its_options(example: Example, tmp_path: Path) -> None:
    on = Example(example.where, uncommented(example.text))
    assert_taken_up(on, load(on, tmp_path))


def test_deploy_example_loads_as_installed(tmp_path: Path) -> None:
    example = Example("deploy/gateway.toml", DEPLOY.read_text("utf-8"))
    assert_taken_up(example, load(example, tmp_path))


VARIANTS = deploy_variants()


@pytest.mark.parametrize("example", VARIANTS, ids=[e.where for e in VARIANTS])
def test_deploy_example_loads_with_a_section_uncommented(example: Example, tmp_path: Path) -> None:
    assert_taken_up(example, load(example, tmp_path))


def test_every_part_has_its_section_in_the_deploy_example() -> None:
    """Each input and upstream is offered in deploy/gateway.toml, on or commented."""
    text = uncommented(DEPLOY.read_text("utf-8"))
    offered = {h.strip("[]").split(".")[0] for h in re.findall(r"^\[\[?[\w.]+\]\]?", text, re.M)}
    every = {**parts.INPUTS, **parts.UPSTREAMS}
    missing = sorted(p.section or n for n, p in every.items() if (p.section or n) not in offered)
    assert not missing, f"deploy/gateway.toml offers no section for {missing}"
