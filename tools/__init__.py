"""meteolink: firmware and gateway for low-power weather and air-quality stations.

This package is what people type: the `meteolink` command (cli.py). The
codec lives with the firmware (meteolink.firmware) and the service in
meteolink.gateway.
"""

__version__ = "0.1.0"
