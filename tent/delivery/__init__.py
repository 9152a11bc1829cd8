"""Talking to other servers: the outbox worker, the discovery client, relationship
initiation and request proxying live here. Federation is its own work item; nothing in
the server calls out to other servers yet."""
