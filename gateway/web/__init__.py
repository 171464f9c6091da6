"""The status page: a small HTTP/1.1 server in the gateway, its pages and its endpoints.

    settings.py   the [web] section: where to listen, who may look
    reader.py     what the pages read: the store, read-only, on the web's own thread,
                  and the gateway's tallies as they were when the request came in
    server.py     HTTP/1.1 on asyncio streams: GET and HEAD, bounded, basic auth
    overview.py   / and /api/overview: one row per node, the gateway's health
    metrics.py    /metrics for Prometheus (prometheus-client)
    node_page.py  /nodes/<id> and /api/nodes/<id>: one node's charts (issue 12)

docs/status-page.md is the user's view of all of it.
"""
