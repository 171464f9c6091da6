"""Firmware tests share the gateway's fixtures: a node's frames go to a real gateway."""

from tests.gateway.conftest import gateway, line

__all__ = ["gateway", "line"]
