"""The gateway's policies for nodes its configuration does not list, read from the gateway.

`[gateway] unknown_nodes` says what happens to a frame from a node without a
[nodes.N] table. A test that runs under every policy takes them from here, so
that a policy added to gateway/config.py is covered without a change to the
tests: nothing here names one.
"""

import re
import tempfile
from pathlib import Path

import pytest

from meteolink.gateway import config


def _loads(path: Path, policy: str) -> bool:
    path.write_text(f'[gateway]\nunknown_nodes = "{policy}"\n', "utf-8")
    try:
        config.load(path)
    except config.ConfigError:
        return False
    return True


def unknown_node_policies() -> list[str]:
    """Every value config.load() takes for [gateway] unknown_nodes, the default first.

    config.py refuses any other value with a message that names the valid
    ones (what to give, as every configuration error does); they are read
    from that message, and from any collection of names config.py holds that
    includes the default. Each candidate is kept only if config.load() takes it.
    """
    default = config.Config().unknown_nodes
    candidates = {default}
    for value in vars(config).values():
        if isinstance(value, tuple | frozenset | set) and default in value:
            candidates |= {v for v in value if isinstance(v, str)}
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "gateway.toml"
        refused = "not-a-policy"
        if _loads(path, refused):
            pytest.fail(f"[gateway] unknown_nodes = {refused!r} was taken: is it still checked?")
        try:
            config.load(path)
        except config.ConfigError as e:
            candidates |= set(re.findall(r'"([^"\\]{1,40})"', str(e))) - {refused}
        found = sorted(p for p in candidates if _loads(path, p))
    if default not in found or len(found) < 2:
        pytest.fail(
            f"[gateway] unknown_nodes: found only {found} (default {default!r}); the refusal"
            ' of a wrong value should name each valid one in double quotes ("accept")'
        )
    return [default, *(p for p in found if p != default)]
