"""Logging in: register an app, get it authorized, keep the token (docs/protocol.md §6).

Two ways to get the owner's approval:

- **Authorization requests** (this project's extension, advertised as ``authorization_requests``
  in ``server_info``): made for programs without a browser. We ask with a random 6-digit code,
  tell the user where to approve and which code to look for, and poll until the owner decides.
- **OAuth with a loopback redirect** (any v0.3 server): a one-shot HTTP listener on
  127.0.0.1 receives the browser's redirect; its URL is registered as the app's
  ``redirect_uri``, so the app is registered only once the listener's port is known. A random
  ``state`` ties the redirect to this login, so another local page cannot inject a code.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import secrets
import socket
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urljoin

import aiohttp
from aiohttp import web

from tent.auth.hawk import Credentials
from tent.client import config as config_file
from tent.client.discovery import Meta, discover
from tent.client.session import (
    POST_MEDIA_TYPE,
    ClientError,
    TentSession,
    dumps,
    post_content_type,
)
from tent.core.links import header_links
from tent.core.media import REL_CREDENTIALS
from tent.core.type_uris import APP_TYPE, DELETE_BASE, META_BASE, REPOST_BASE, STATUS_BASE, SUBSCRIPTION_BASE

TOKEN_TYPE = "https://tent.io/oauth/hawk-token"
DEFAULT_NAME = "Tent status (command line)"
# The app post names this client's own distribution, not tent.io (which would read as an
# endorsement by the protocol's authors).
APP_URL = "https://pypi.org/project/tent-server/"
# The authorization-request flow never redirects, but the app schema requires a URI.
NO_REDIRECT = "http://127.0.0.1/tent-status-no-redirect"

READ_TYPES = [STATUS_BASE, REPOST_BASE, SUBSCRIPTION_BASE, DELETE_BASE, META_BASE]
WRITE_TYPES = [STATUS_BASE, REPOST_BASE, SUBSCRIPTION_BASE, DELETE_BASE]
# Subscriptions name the followed entity in permissions.entities (§7.7); servers that follow
# the "fail closed" rule drop that list from apps without the `permissions` scope.
SCOPES = ["permissions"]

OpenUrl = Callable[[str], Awaitable[Any] | Any]
Say = Callable[[str], None]


@dataclass
class LoginOptions:
    """How to log in; the defaults are what `tent status login` does."""

    name: str = DEFAULT_NAME
    wait: bool = True
    force_oauth: bool = False
    poll_interval: float = 2.0
    timeout: float = 600.0
    open_url: OpenUrl | None = None
    say: Say = field(default=print)


def app_post(name: str, redirect_uri: str) -> dict[str, Any]:
    return {
        "type": APP_TYPE,
        "permissions": {"public": False},
        "content": {
            "name": name,
            "url": APP_URL,
            "redirect_uri": redirect_uri,
            "types": {"read": list(READ_TYPES), "write": list(WRITE_TYPES)},
            "scopes": list(SCOPES),
        },
    }


def _credentials(value: Any) -> dict[str, str]:
    """A token response or credentials post -> {id, hawk_key, hawk_algorithm}, checked."""
    if isinstance(value, dict) and isinstance(value.get("content"), dict):
        key_id, content = value.get("id"), value["content"]
    elif isinstance(value, dict):
        key_id, content = value.get("access_token"), value
    else:
        key_id, content = None, {}
    key, algorithm = content.get("hawk_key"), content.get("hawk_algorithm", "sha256")
    if not isinstance(key_id, str) or not isinstance(key, str) or algorithm != "sha256":
        raise ClientError("the server sent credentials this client cannot use")
    return {"id": key_id, "hawk_key": key, "hawk_algorithm": algorithm}


def as_hawk(creds: dict[str, str]) -> Credentials:
    return Credentials(creds["id"], creds["hawk_key"], creds.get("hawk_algorithm", "sha256"))


async def register_app(session: TentSession, name: str, redirect_uri: str) -> tuple[str, dict[str, str]]:
    """Anonymous POST of the app post, then the app credentials behind the bewit Link (§6.2)."""
    body = app_post(name, redirect_uri)
    reply = await session.signed_as(None).call("POST", "new_post", body=dumps(body),
                                               content_type=post_content_type(APP_TYPE),
                                               accept=POST_MEDIA_TYPE)
    created = reply.json()
    app = created.get("post") if isinstance(created, dict) else None
    if not isinstance(app, dict) or not isinstance(app.get("id"), str):
        raise ClientError("the server did not return the registered app post")
    link = next(iter(header_links(reply.headers.getall("Link", []), REL_CREDENTIALS)), None)
    if link is None:
        raise ClientError("the server did not link the app's credentials after registration")
    # Fetched raw: the bewit MAC covers the URL exactly as the server wrote it.
    creds_reply = await session.signed_as(None).fetch("GET", urljoin(reply.url, link), accept=POST_MEDIA_TYPE,
                                                      sign=False)
    creds_body = creds_reply.json()
    return app["id"], _credentials(creds_body.get("post") if isinstance(creds_body, dict) else None)


async def server_info(session: TentSession) -> dict[str, Any]:
    """``server_info`` is undefined by the protocol (D-07); any failure just means "plain OAuth"."""
    try:
        reply = await session.signed_as(None).call("GET", "server_info", accept="application/json")
        info = reply.json()
    except ClientError:
        return {}
    return info if isinstance(info, dict) else {}


def _code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def _base_config(meta: Meta, app_id: str, app_creds: dict[str, str]) -> dict[str, Any]:
    return {"entity": meta.entity, "servers": meta.servers, "app_id": app_id, "app_credentials": app_creds}


async def login(http: aiohttp.ClientSession, entity: str, path: Path,
                options: LoginOptions) -> dict[str, Any]:
    """Log in to ``entity`` and save the configuration at ``path``; returns what was saved.

    With ``options.wait`` False the authorization request is left pending in the config; the
    next login for the same entity resumes waiting for it instead of registering again.
    """
    saved = config_file.load(path) or {}
    pending = saved.get("pending")
    pending_entity = (pending.get("login") or saved).get("entity") if isinstance(pending, dict) else None
    if options.wait and isinstance(pending, dict) and pending_entity in (entity, entity.rstrip("/")):
        options.say(f"Waiting for the pending request: approve at {pending['approve_url']} "
                    f"(code {pending['code']})")
        return await _finish_request(http, path, saved, options, on_disk=True)

    meta = await discover(http, entity)
    session = TentSession(http, meta.servers)
    info = {} if options.force_oauth else await server_info(session)
    requests_url = info.get("authorization_requests")
    if isinstance(requests_url, str) and requests_url.startswith(("http://", "https://")):
        return await _login_by_request(session, meta, requests_url, path, options)
    if not options.wait:
        raise ClientError("--no-wait needs a server that takes authorization requests; "
                          "this one only offers the browser (OAuth) flow")
    return await _login_by_oauth(session, meta, path, options)


async def _login_by_request(session: TentSession, meta: Meta, requests_url: str, path: Path,
                            options: LoginOptions) -> dict[str, Any]:
    app_id, app_creds = await register_app(session, options.name, NO_REDIRECT)
    code = _code()
    as_app = session.signed_as(as_hawk(app_creds), app_id)
    ask = {"code": code, "msg": "asks to read and publish statuses from the command line"}
    reply = await as_app.fetch("POST", requests_url, body=dumps(ask), content_type="application/json",
                               accept="application/json")
    entry = reply.json()
    if not isinstance(entry, dict) or not isinstance(entry.get("stamp"), int | str):
        raise ClientError("the server's answer to the authorization request has no stamp")
    approve_url = entry.get("approve_url") or requests_url
    base = _base_config(meta, app_id, app_creds)
    pending = {"url": f"{requests_url.rstrip('/')}/{entry['stamp']}", "code": code,
               "approve_url": approve_url, "login": base}
    options.say(f"Approve this app at {approve_url} (code {code})")
    if not options.wait:
        # Beside the saved login, never in its place: a working token keeps working until
        # the new one is approved.
        saved = config_file.load(path) or {}
        config_file.save(path, {**saved, "pending": pending})
        options.say("Once approved, any `tent status` command finishes the login "
                    "(or run `tent status login ENTITY` again to wait for it).")
        return {**base, "pending": pending}
    return await _finish_request(session.http, path, {"pending": pending}, options, on_disk=False)


_ENDINGS = {"no": "the owner denied this app",
            "expire": "the authorization request expired before the owner decided",
            "abort": "the authorization request was cancelled"}


def _drop_pending(path: Path, cfg: dict[str, Any], on_disk: bool) -> None:
    cfg.pop("pending", None)
    if on_disk:  # the saved login is this pending one; a dead request must not linger there
        config_file.save(path, cfg)


def _settle(path: Path, cfg: dict[str, Any], entry: Any, on_disk: bool) -> bool:
    """Apply a polled request: True (and saved) on `yes`, ClientError on an ending, else False.

    ``on_disk`` says whether the pending request is what the config file holds (``--no-wait``);
    otherwise a failure leaves the file, and any earlier working login in it, untouched.
    """
    entry = entry if isinstance(entry, dict) else {}
    result = entry.get("result")
    if result == "yes":
        approved = {**_pending_login(cfg), "token": {**_credentials(entry.get("credentials")),
                                                     "token_type": TOKEN_TYPE}}
        config_file.save(path, approved)  # only now does the saved login change
        cfg.clear()
        cfg.update(approved)
        return True
    if result in _ENDINGS:
        _drop_pending(path, cfg, on_disk)
        raise ClientError(_ENDINGS[result])
    return False


def _pending_login(cfg: dict[str, Any]) -> dict[str, Any]:
    """The configuration the pending request will become (files of older versions kept it at
    the top level)."""
    login = cfg["pending"].get("login")
    if isinstance(login, dict):
        return dict(login)
    return {k: v for k, v in cfg.items() if k not in ("pending", "token")}


def _pending_session(http: aiohttp.ClientSession, cfg: dict[str, Any]) -> TentSession:
    login = _pending_login(cfg)
    return TentSession(http, login.get("servers") or [], as_hawk(login["app_credentials"]), login["app_id"])


async def check_pending(http: aiohttp.ClientSession, path: Path, cfg: dict[str, Any]) -> dict[str, Any]:
    """One look at a login left pending by `--no-wait`: the config with a token once approved."""
    pending = cfg["pending"]
    entry = (await _pending_session(http, cfg).fetch("GET", pending["url"], accept="application/json")).json()
    if _settle(path, cfg, entry, on_disk=True):
        return cfg
    raise ClientError(f"the login is still waiting for approval at {pending['approve_url']} "
                      f"(code {pending['code']})")


async def _finish_request(http: aiohttp.ClientSession, path: Path, cfg: dict[str, Any],
                          options: LoginOptions, *, on_disk: bool) -> dict[str, Any]:
    """Poll the pending request until the owner decides, it expires, or we give up."""
    pending = cfg["pending"]
    as_app = _pending_session(http, cfg)
    deadline = time.monotonic() + options.timeout
    try:
        while True:
            entry = (await as_app.fetch("GET", pending["url"], accept="application/json")).json()
            if _settle(path, cfg, entry, on_disk):
                return cfg
            if time.monotonic() >= deadline:
                await _cancel(as_app, pending["url"])
                _drop_pending(path, cfg, on_disk)
                raise ClientError(f"gave up waiting for approval after {options.timeout:g} s "
                                  "(the request was cancelled)")
            await asyncio.sleep(min(options.poll_interval, max(0.0, deadline - time.monotonic())))
    except asyncio.CancelledError:
        with contextlib.suppress(ClientError, asyncio.CancelledError):
            await asyncio.shield(_cancel(as_app, pending["url"]))
        raise


async def _cancel(as_app: TentSession, url: str) -> None:
    with contextlib.suppress(ClientError):
        await as_app.fetch("DELETE", url, accept="application/json")


# -- OAuth with a loopback redirect ---------------------------------------------------------


class _Callback:
    """A one-shot listener on 127.0.0.1 for the OAuth redirect."""

    def __init__(self, state: str) -> None:
        self.state = state
        self.result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/callback", self._handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self.runner, sock).start()
        return f"http://127.0.0.1:{self.port}/callback"

    async def _handle(self, request: web.Request) -> web.Response:
        if self.result.done():
            return _page(410, "This login is already finished.")
        query = request.query
        if query.get("state") != self.state:
            self.result.set_exception(ClientError("the OAuth redirect carried the wrong state; "
                                                  "login aborted"))
            return _page(400, "The state does not match this login; it was aborted.")
        if "error" in query:
            reason = "the owner denied this app" if query["error"] == "access_denied" else \
                f"authorization failed: {query['error']}"
            self.result.set_exception(ClientError(reason))
            return _page(200, "Authorization was refused. You may close this window.")
        code = query.get("code")
        if not code:
            self.result.set_exception(ClientError("the OAuth redirect carried no code"))
            return _page(400, "No authorization code.")
        self.result.set_result(code)
        return _page(200, "The Tent status client is authorized. You may close this window.")

    async def close(self) -> None:
        if not self.result.done():
            self.result.cancel()
        elif not self.result.cancelled():
            self.result.exception()  # retrieved, so asyncio does not log it as forgotten
        if self.runner is not None:
            await self.runner.cleanup()


def _page(status: int, message: str) -> web.Response:
    return web.Response(status=status, content_type="text/html",
                        text="<!DOCTYPE html><meta charset=utf-8><title>tent status</title>"
                             f"<p>{message}</p>\n")


def _ignore_result(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _has_gui() -> bool:
    """Without a display, webbrowser would start a console browser that takes over the terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _default_open(url: str) -> None:
    if not _has_gui():
        return
    with contextlib.suppress(Exception):
        await asyncio.get_running_loop().run_in_executor(None, webbrowser.open, url)


async def _login_by_oauth(session: TentSession, meta: Meta, path: Path,
                          options: LoginOptions) -> dict[str, Any]:
    state = secrets.token_urlsafe(16)
    callback = _Callback(state)
    redirect_uri = await callback.start()
    opener: asyncio.Task[Any] | None = None
    try:
        app_id, app_creds = await register_app(session, options.name, redirect_uri)
        auth_url = session.endpoint("oauth_auth")
        auth_url += ("&" if "?" in auth_url else "?") + urlencode({"client_id": app_id, "state": state})
        options.say(f"Open this address to approve the app: {auth_url}")
        opened = (options.open_url or _default_open)(auth_url)
        if inspect.isawaitable(opened):
            opener = asyncio.ensure_future(opened)
            opener.add_done_callback(_ignore_result)  # a failing browser must not fail the login
        try:
            code = await asyncio.wait_for(asyncio.shield(callback.result), options.timeout)
        except TimeoutError:
            raise ClientError(f"gave up waiting for the browser after {options.timeout:g} s") from None
    finally:
        if opener is not None and not opener.done():
            # Let the browser read the "you may close this window" page before the listener goes.
            await asyncio.wait([opener], timeout=2)
            opener.cancel()
        await callback.close()
    as_app = session.signed_as(as_hawk(app_creds), app_id)
    reply = await as_app.call("POST", "oauth_token", body=dumps({"code": code, "token_type": TOKEN_TYPE}),
                              content_type="application/json", accept="application/json")
    cfg = _base_config(meta, app_id, app_creds)
    cfg["token"] = {**_credentials(reply.json()), "token_type": TOKEN_TYPE}
    config_file.save(path, cfg)
    return cfg
