"""Randomised, capped exponential backoff for reconnecting to what went away."""

import asyncio
import random


class Backoff:
    """Delays that double from `first` up to `cap`, each drawn at random from its upper half.

    The randomness keeps a dozen gateways that lost one broker from all
    knocking on it in the same second when it returns.
    """

    def __init__(self, *, first: float = 0.5, cap: float = 30.0) -> None:
        if not 0 < first <= cap:
            raise ValueError(f"backoff: need 0 < first <= cap, got first={first}, cap={cap}")
        self.first = first
        self.cap = cap
        self.attempts = 0

    def delay(self) -> float:
        top = min(self.cap, self.first * 2**self.attempts)
        self.attempts = min(self.attempts + 1, 32)
        return random.uniform(top / 2, top)

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay())

    def reset(self) -> None:
        self.attempts = 0
