"""docs/contributing.md names files that exist, and the steps name what the tests enforce."""

import re

from tests.support.tools import ROOT

PAGE = (ROOT / "docs" / "contributing.md").read_text("utf-8")
# A repository path in backticks: a top-level folder, then a file with an extension.
PATH = re.compile(
    r"`((?:boards|firmware|gateway|tools|sim|tests|docs|deploy|bench)/[\w./-]+\.\w+)`"
)


def test_every_file_the_page_names_exists() -> None:
    named = set(PATH.findall(PAGE))
    assert len(named) > 20
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/contributing.md names files that are not there: {missing}"


def test_each_recipe_names_its_table() -> None:
    for heading, table in [
        ("## Add a sensor", "firmware/catalogue.py"),
        ("## Add an input", "gateway/parts.py"),
        ("## Add an upstream", "gateway/parts.py"),
        ("## Add a board", "tools/golden/boards.txt"),
    ]:
        section = PAGE.split(heading, 1)[1].split("\n## ", 1)[0]
        assert table in section, (heading, table)
