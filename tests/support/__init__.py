"""What several test folders share, each defined once.

- tools.py: the repository's paths, the test vectors, find_tool() for the real
  programs the tests run (a missing one fails the test, never skips it);
- lines.py: serial lines on real pseudo-terminals, the gateway's and a node's;
- broker.py: a real Mosquitto on loopback, and a subscriber that misses nothing;
- gateway_process.py: `meteolink gateway` as systemd runs it;
- sim_node.py: a node on the `sim` board, one MicroPython process per wake, and the
  sim LoRa ether's ports;
- micropython.py: what the MicroPython test scripts printed, read back by case;
- receiver.py: a stand-in for the gateway that keeps the frames an input hands it;
- virtual_board.py: a node in its maintenance window on a pty, as mpremote meets a board;
- traffic.py: a bridge's steady readings on a line, its acknowledgements kept, and what a
  subscriber got of them;
- policies.py: every policy the gateway takes for unlisted nodes, read from its config.py;
- figures.py: what the reliability tests measure, and METEOLINK_RELIABILITY_SCALE.

The fixtures that hand these out live in tests/conftest.py, so every test
folder runs on its own (`pytest tests/firmware`).
"""
