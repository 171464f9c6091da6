"""Runs at every boot and every wake from deep sleep: the node's cycle."""

import node

node.main()
