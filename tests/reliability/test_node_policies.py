"""Forged, replayed, old-counter and reset frames, under every policy for unlisted nodes.

One story of frames is told for three nodes: one listed with a key, one
listed without, one not listed. Each frame has the verdict docs/protocol.md §2
gives it (a keyed node's column, a keyless node's); the policy for unlisted
nodes ([gateway] unknown_nodes, every value gateway/config.py takes) must not
change what happens to a listed node, and an unlisted node's frame is either
turned away or judged exactly as a listed keyless node's. The story runs
through the real Acceptor, and once per policy through a real gateway
process on a pseudo-terminal, which must store exactly what the Acceptor
accepted, in order, though killed with SIGKILL halfway and started again.
"""

import signal
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from meteolink.firmware import frames
from meteolink.gateway.accept import Acceptor, Outcome
from meteolink.gateway.config import Config, NodeConfig
from tests.support.figures import Figures
from tests.support.gateway_process import GatewayProcess, config, reading
from tests.support.lines import Line
from tests.support.policies import unknown_node_policies
from tests.support.tools import wait_until

pytestmark = pytest.mark.reliability

KEY = bytes(range(16))
WRONG = bytes(range(1, 17))
KEYED, KEYLESS, UNLISTED = 11, 12, 13
LAST = 99  # a listed node whose frame ends the story on the line
BOOT = frames.FLAG_BOOT
A, D, R, M = Outcome.ACCEPTED, Outcome.DUPLICATE, Outcome.REJECTED, Outcome.MIC_FAILED


@dataclass(frozen=True)
class Step:
    what: str
    seq: int
    keyed: Outcome  # the verdict for a node with a key
    keyless: Outcome  # and for one without
    flags: int = 0
    sign: str = "own"  # "own": the node's own key (if it has one); "none"; "wrong"


STORY = [
    Step("first frame after a cold boot", 1000, A, A, BOOT),
    *(Step("genuine", s, A, A) for s in range(1001, 1010)),
    Step("heard twice", 1009, D, D),
    Step("genuine, one frame lost for now", 1011, A, A),
    Step("the lost frame, late (a backlog resend)", 1010, A, A),
    Step("the boot frame heard again within the window", 1000, D, D, BOOT),
    # Forged: a keyless node cannot tell them from its own; the rules bound what they can do.
    Step("forged, no MIC, far ahead", 5000, M, A, sign="none"),
    Step("genuine after a forged frame far ahead: not stale", 1012, A, A),
    Step("forged, wrong key, the highest counter", frames.MAX_SEQ, M, A, sign="wrong"),
    Step("forged, wrong key, next counter", 1013, M, A, sign="wrong"),
    Step("genuine after the forgeries (its counter taken by one without a key)", 1013, A, D),
    Step("an old counter, below the window", 700, R, R),
    Step("genuine, far ahead (a long silence)", 1300, A, A),
    Step("genuine, continuing from it", 1301, A, A),
    Step("a recording replayed, below the window", 1001, R, R),
    Step("the recorded boot frame replayed, below the window", 1000, R, A, BOOT),
    Step("flash wiped: counter restarts, boot flag", 3, R, A, BOOT),
    Step("the restarted counter goes on", 4, R, A),
    Step("the restart heard again", 3, R, D, BOOT),
    Step("a cold boot: resumes above the highest", 1365, A, A, BOOT),
    Step("genuine", 1366, A, A),
]


def frame_of(node: int, step: Step, key: bytes | None) -> bytes:
    signer = {"own": key, "none": None, "wrong": WRONG}[step.sign]
    return reading(node, step.seq, key=signer, flags=step.flags)


def nodes() -> dict[int, NodeConfig]:
    return {KEYED: NodeConfig(key=KEY), KEYLESS: NodeConfig(), LAST: NodeConfig()}


NODES = (KEYED, KEYLESS, UNLISTED)


def told() -> list[tuple[int, Step, bytes]]:
    """The story, step by step, each step told by the three nodes in turn."""
    return [
        (node, step, frame_of(node, step, KEY if node == KEYED else None))
        for step in STORY
        for node in NODES
    ]


def tell(acceptor: Acceptor) -> dict[int, list[Outcome]]:
    """The story through the acceptor: node -> the outcome of each step."""
    outcomes: dict[int, list[Outcome]] = {node: [] for node in NODES}
    t = 1_790_000_000.0
    for node, _, data in told():
        t += 60
        outcomes[node].append(acceptor.judge(data, source="t", now=t, can_reply=True).outcome)
    return outcomes


def accepted(outcomes: dict[int, list[Outcome]]) -> list[tuple[int, int]]:
    """(node, counter) of each frame the story had stored, in the order it was told."""
    return [
        (node, step.seq)
        for i, step in enumerate(STORY)
        for node in NODES
        if outcomes[node][i] is Outcome.ACCEPTED
    ]


def check(policy: str, outcomes: dict[int, list[Outcome]]) -> None:
    for i, step in enumerate(STORY):
        assert outcomes[KEYED][i] is step.keyed, f"{policy}: keyed node, step {i}: {step.what}"
        assert outcomes[KEYLESS][i] is step.keyless, f"{policy}: keyless, step {i}: {step.what}"
    unlisted = outcomes[UNLISTED]
    turned_away = [o is Outcome.UNKNOWN for o in unlisted]
    if any(turned_away):
        # A policy that turns a node away turns it away at its first frame and
        # stays with it: nothing of its story gets in between.
        assert turned_away[0], f"{policy}: the unlisted node got in first, then was turned away"
    for i, (step, outcome) in enumerate(zip(STORY, unlisted, strict=True)):
        assert outcome in (Outcome.UNKNOWN, step.keyless), (
            f"{policy}: unlisted node, step {i} ({step.what}): {outcome}, neither turned away"
            f" nor judged as a listed keyless node ({step.keyless})"
        )
    if policy == "accept":
        assert unlisted == outcomes[KEYLESS]
    if policy == "reject":
        assert all(turned_away)


@pytest.mark.parametrize("policy", unknown_node_policies())
def test_every_frame_has_its_verdict_under_every_policy(policy: str, figures: Figures) -> None:
    outcomes = tell(Acceptor(Config(unknown_nodes=policy, nodes=nodes())))
    check(policy, outcomes)
    tallies = {
        f"node_{node}": {o.value: got.count(o) for o in sorted(set(got), key=str)}
        for node, got in outcomes.items()
    }
    figures.record(steps=len(STORY), **tallies)


@pytest.mark.parametrize("policy", unknown_node_policies())
def test_a_gateway_process_killed_mid_story_stores_what_the_verdicts_say(
    policy: str, line: Line, gateway: Callable[..., GatewayProcess], figures: Figures
) -> None:
    """The process stores what the Acceptor accepts; its windows survive a SIGKILL."""
    expected = accepted(tell(Acceptor(Config(unknown_nodes=policy, nodes=nodes()))))
    keys = {node: c.key for node, c in nodes().items()}
    g = gateway(config(line.link, keys=keys, gateway=f'unknown_nodes = "{policy}"\n'))
    frames_told = told()
    half = len(frames_told) // 2

    def send(part: int, these: list[tuple[int, Step, bytes]]) -> None:
        for _, _, data in these:
            line.send(data, rssi=-100, snr=3.0)
        line.send(reading(LAST, part))  # committed with or after every frame before it
        wait_until(lambda: (LAST, part) in g.stored(), f"part {part}'s last frame stored")

    send(1, frames_told[:half])
    g.stop(signal.SIGKILL)  # what the windows were is all in the store
    g.start()
    g.wait_open(2)
    send(2, frames_told[half:])
    assert [r for r in g.stored() if r[0] != LAST] == expected
    assert g.stop() == 0
    log = g.log()
    assert "Traceback" not in log
    assert KEY.hex() not in log and WRONG.hex() not in log
    figures.record(sent=len(frames_told) + 2, stored=len(expected) + 2)
