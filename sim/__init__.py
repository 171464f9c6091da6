"""The `sim` board's hardware: emulated buses and chips for the unix port.

Nothing here is flashed to a node. Every part answers at the byte or
register level, the way its datasheet says the chip does, so the firmware's
real drivers run unchanged against it.
"""
