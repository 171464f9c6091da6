"""Sequence bookkeeping: lost, late, duplicate, replay, reset."""

from hypothesis import given
from hypothesis import strategies as st

from meteolink.gateway.sequence import WINDOW, SequenceWindow, Verdict


def feed(counter: SequenceWindow, seq: int, *, boot: bool = False, keyed: bool = False) -> Verdict:
    verdict = counter.verdict(seq, boot=boot, keyed=keyed)
    counter.record(seq, verdict, boot=boot)
    return verdict


def test_in_order_frames_are_new_and_nothing_is_lost() -> None:
    c = SequenceWindow()
    assert [feed(c, s) for s in range(100, 105)] == [Verdict.NEW] * 5
    assert (c.highest, c.lost, c.duplicates) == (104, 0, 0)


def test_a_gap_counts_lost_frames_and_a_late_frame_finds_one_again() -> None:
    c = SequenceWindow()
    feed(c, 10)
    assert feed(c, 14) is Verdict.NEW
    assert c.lost == 3
    assert feed(c, 12) is Verdict.LATE
    assert c.lost == 2
    assert feed(c, 12) is Verdict.DUPLICATE
    assert (c.lost, c.duplicates, c.highest) == (2, 1, 14)


def test_the_same_frame_heard_twice_is_a_duplicate() -> None:
    c = SequenceWindow()
    feed(c, 7)
    assert feed(c, 7) is Verdict.DUPLICATE
    assert not Verdict.DUPLICATE.accepted


def test_a_boot_jump_is_not_loss() -> None:
    c = SequenceWindow()
    feed(c, 500)
    assert feed(c, 564, boot=True) is Verdict.NEW
    assert c.lost == 0


def test_below_the_window_is_replay_with_a_key_and_stale_without() -> None:
    c = SequenceWindow()
    feed(c, 10_000)
    old = 10_000 - WINDOW
    assert c.verdict(old + 1, boot=False, keyed=True) is Verdict.LATE
    assert feed(c, old, keyed=True) is Verdict.REPLAY
    assert feed(c, old) is Verdict.STALE
    assert feed(c, old, boot=True, keyed=True) is Verdict.REPLAY
    assert c.rejected == 3
    assert c.highest == 10_000


def test_an_unkeyed_node_that_lost_its_counter_is_reset_on_boot() -> None:
    c = SequenceWindow()
    feed(c, 10_000)
    assert feed(c, 3, boot=True) is Verdict.RESET
    assert (c.highest, c.lost) == (3, 0)
    assert feed(c, 4) is Verdict.NEW
    assert feed(c, 3) is Verdict.DUPLICATE


def test_a_huge_jump_of_a_keyed_node_forgets_the_window() -> None:
    # Its MIC proves the frame is the node's: the jump is real (a long silence).
    c = SequenceWindow()
    feed(c, 0, keyed=True)
    assert feed(c, 0xFFFFFF, keyed=True) is Verdict.NEW
    assert c.seen == 1
    assert c.verdict(0xFFFFFF - 1, boot=False, keyed=True) is Verdict.LATE


def test_one_frame_far_ahead_from_an_unkeyed_node_waits_for_a_second_to_move_the_window() -> None:
    """Issue 9, hole 3: one forged 0xFFFFFF made every genuine frame after it stale."""
    c = SequenceWindow()
    for seq in range(100, 110):
        feed(c, seq)
    assert feed(c, 0xFFFFFF) is Verdict.AHEAD  # stored, but not yet the highest
    assert Verdict.AHEAD.accepted
    assert [feed(c, s) for s in range(110, 115)] == [Verdict.NEW] * 5  # the node goes on
    assert (c.highest, c.lost, c.rejected) == (114, 0, 0)
    # A genuine long silence: the first frame after it waits, the next confirms it.
    assert feed(c, 114 + WINDOW + 50) is Verdict.AHEAD
    assert feed(c, 114 + WINDOW + 51) is Verdict.NEW
    assert c.highest == 114 + WINDOW + 51
    assert c.lost == WINDOW + 49  # the silence, less the two frames heard
    assert feed(c, 114 + WINDOW + 50) is Verdict.DUPLICATE  # stored once already
    # Within the window above the highest, a frame moves it at once, as ever.
    assert feed(c, c.highest + WINDOW - 1) is Verdict.NEW


@given(st.lists(st.integers(0, 40), max_size=200))
def test_each_counter_in_the_window_is_accepted_exactly_once(arrivals: list[int]) -> None:
    c = SequenceWindow()
    accepted: list[int] = []
    for seq in arrivals:
        verdict = feed(c, 1000 + seq)
        if verdict.accepted:
            accepted.append(seq)
        else:
            assert verdict is Verdict.DUPLICATE
    assert sorted(accepted) == sorted(set(arrivals))
    if arrivals:
        first, heard = arrivals[0], set(arrivals)
        assert c.lost == sum(1 for s in range(first, max(arrivals) + 1) if s not in heard)


def test_a_boot_frame_heard_again_late_is_a_duplicate_not_a_reset() -> None:
    """Issue 9, hole 3: a boot frame heard again (two bridges, a buffering bridge) was
    taken for a reset, and it and every frame after it were stored a second time."""
    c = SequenceWindow()
    feed(c, 1000, boot=True)
    for seq in range(1001, 1010):
        feed(c, seq)
    assert feed(c, 1000, boot=True) is Verdict.DUPLICATE
    assert [feed(c, s) for s in range(1001, 1010)] == [Verdict.DUPLICATE] * 9
    assert c.highest == 1009
    # Below the window, a boot frame is a reset, as docs/protocol.md §2 says.
    assert c.verdict(1009 - WINDOW, boot=True, keyed=False) is Verdict.RESET
    assert c.verdict(1009 - WINDOW + 1, boot=True, keyed=False) is Verdict.LATE


def test_a_copy_of_a_window_is_equal_and_apart() -> None:
    # Handed to the store's thread with each commit (issue 9): the window goes on.
    w = SequenceWindow(highest=9, since=1, seen=0b1011, lost=2, ahead=400, started=12.5)
    c = w.copy()
    assert c == w and c is not w
    w.record(10, w.verdict(10, boot=False, keyed=False), boot=False)
    assert c.highest == 9 and c.seen == 0b1011 and w.highest == 10
