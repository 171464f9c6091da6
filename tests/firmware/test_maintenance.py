"""mpremote reaches a node in its maintenance window: the node on a virtual board.

The virtual board is the MicroPython unix port running the firmware on a
pseudo-terminal (socat), which mpremote drives as it drives a USB board.
"""

from collections.abc import Callable

from tests.support.virtual_board import VirtualBoard


def test_mpremote_gets_in_during_the_window_and_the_node_sends_nothing(
    virtual_board: Callable[..., VirtualBoard],
) -> None:
    b = virtual_board({"node": 5, "maintenance_s": 20})
    got = b.mpremote("exec", "import os; print(sorted(os.listdir()))")
    assert got.returncode == 0, got.stderr
    assert "'config.json'" in got.stdout
    # Interrupted, the node stays in the REPL: no counter was reserved.
    assert not (b.flash / "counter.dat").exists()
    again = b.mpremote("fs", "cat", "config.json")
    assert again.returncode == 0 and '"maintenance_s": 20' in again.stdout


def test_a_held_maintenance_button_keeps_the_node_in_the_repl(
    virtual_board: Callable[..., VirtualBoard],
) -> None:
    b = virtual_board(
        {"node": 5, "maintenance_s": 0}, {"link": "/dev/null", "maintenance_pin": True}
    )
    got = b.mpremote("exec", "print('reached')")
    assert got.returncode == 0 and "reached" in got.stdout, got.stderr
    assert not (b.flash / "counter.dat").exists()
