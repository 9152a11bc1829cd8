"""Talking to other servers: the outbox worker (`outbox`), relationships, notifications,
webhooks and proxy fetches (`federation`), the discovery client (`discovery`), and the one
guarded HTTP client they all use (`client`)."""
