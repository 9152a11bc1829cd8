"""A command-line status client for any Tent v0.3 server (`tent status ...`).

It is a separate program that happens to ship with the server: it speaks to servers only
through the protocol (discovery from an entity URL, the meta post's endpoint templates, Hawk
signing), so it works against any v0.3 server and never touches this project's database or
request handlers. Only the pure Hawk primitives of ``tent.auth.hawk`` are shared.

Modules: ``discovery`` (entity URL -> meta post -> servers), ``session`` (signed requests,
server fallback, response signature checks, error mapping), ``config`` (the 0600 credentials
file), ``login`` (app registration, authorization requests, OAuth loopback), ``commands``
(post, timeline, follow, unfollow, repost, delete) and ``cli`` (argument parsing and output).
"""
