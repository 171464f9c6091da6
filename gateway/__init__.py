"""The meteolink gateway: serial and BLE in, verified and stored, MQTT out."""

import importlib.metadata

# The distribution's version, as the installed metadata says (pyproject.toml):
# what the gateway announces to Home Assistant and `meteolink --version` prints.
__version__ = importlib.metadata.version("meteolink")
