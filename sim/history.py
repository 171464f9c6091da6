"""What an emulated chip heard, kept for tests to look at: only the latest.

A sim node can run for days of sim time (an SGP40 sampled every 10 s), so a
chip that kept every command would run the process out of memory; the last
KEPT tell a test all it asks.
"""

KEPT = 64


def remember(log: list, item: object) -> None:  # type: ignore[type-arg]
    """Append item to log, dropping the oldest beyond KEPT."""
    log.append(item)
    if len(log) > KEPT:
        del log[0]
