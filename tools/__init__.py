"""The `meteolink` command: what people type (cli.py and one module per command).

The commands use the other packages beside this one: the codec and the node's
config check from meteolink.firmware, the service from meteolink.gateway, the
board files from meteolink.boards. Nothing there imports this package.
"""
