"""Marks firmware/ as the package meteolink.firmware on CPython. Not copied to a node.

On a node the firmware files sit at the top of its filesystem and import each
other by their bare names. A few of them also run here, unchanged: the
gateway decodes with the node's own codec, and `meteolink flash` checks a
config.json and plans airtime with the node's own code. Only these may be
imported from CPython; the rest need the node's `machine` and are checked
against MicroPython's stubs instead (`make typecheck`; pyproject's mypy
exclusion is tested against this list).
"""

HOST_MODULES = ("frames", "framing", "node_config", "catalogue", "airtime", "dutycycle")
