"""`tent status …`: arguments, human or JSON output, and exit codes.

Expected failures (the server said no, the network is down, the text is too long) are one
line on stderr, ``error: <message> (HTTP <status>)``, and exit code 1; a traceback would only
hide the message. With ``--json`` standard output carries exactly one JSON document, and
progress messages go to stderr so scripts can parse what they get.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from tent.client import commands
from tent.client import config as config_file
from tent.client.config import config_path
from tent.client.login import DEFAULT_NAME, LoginOptions, OpenUrl, login
from tent.client.session import ClientError, http_session


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _limit(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 200:
        raise argparse.ArgumentTypeError("must be between 1 and 200")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the status subcommands to ``parser`` (used by `tent` and by :func:`build_parser`)."""
    sub = parser.add_subparsers(dest="status_command", required=True, metavar="COMMAND")

    def add(name: str, help: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description)
        p.add_argument("--config", metavar="PATH",
                       help="configuration file [env TENT_STATUS_CONFIG; default "
                            "$XDG_CONFIG_HOME/tent/status.json]")
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        return p

    p = add("login", "authorize this client for your entity",
            "Discover ENTITY, register this client as an app and get it approved by the owner: "
            "through an authorization request when the server offers them (approve on the owner "
            "page, matching the printed code), else in the browser (OAuth).")
    p.add_argument("entity", metavar="ENTITY", help="your entity URL")
    p.add_argument("--name", default=DEFAULT_NAME, help="app name shown to the owner")
    p.add_argument("--no-wait", action="store_true",
                   help="send the authorization request and exit; run login again to finish")
    p.add_argument("--oauth", action="store_true", help="use the browser (OAuth) flow even if "
                   "the server takes authorization requests")
    p.add_argument("--poll-interval", type=_positive_float, default=2.0, metavar="SECONDS",
                   help="how often to ask whether the owner decided (default 2)")
    p.add_argument("--timeout", type=_positive_float, default=600.0, metavar="SECONDS",
                   help="how long to wait for approval (default 600)")

    p = add("post", "publish a status", "Publish a status of at most 256 characters (counted "
            "after Unicode NFC normalisation).")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--reply-to", metavar="POST",
                   help='a post URL, "ENTITY ID", or your own post id (write --reply-to=ID if it starts '
                        'with "-")')
    p.add_argument("--mention", action="append", default=[], metavar="ENTITY",
                   help="mention an entity (repeatable)")
    p.add_argument("--private", action="store_true",
                   help="only the entities it mentions (and your own apps) may read it")
    p.add_argument("--attach", action="append", default=[], metavar="FILE", type=Path,
                   help="attach a file, e.g. a photo (repeatable)")

    p = add("timeline", "show the newest statuses and reposts",
            "Statuses and reposts by you and the entities you follow, newest first.")
    p.add_argument("--limit", type=_limit, metavar="N", help="posts per page (server default 25)")
    p.add_argument("--before", metavar="TOKEN", help="continue from a printed position token")
    p.add_argument("--page", choices=["next"], help="continue after the last page shown")

    p = add("follow", "follow an entity's statuses and reposts",
            "Create subscription posts for ENTITY's statuses and reposts.")
    p.add_argument("entity", metavar="ENTITY")
    p.add_argument("--no-discover", dest="discover", action="store_false",
                   help="do not check that ENTITY is a reachable Tent entity first")

    p = add("unfollow", "stop following an entity", "Delete your subscriptions to ENTITY's "
            "statuses and reposts.")
    p.add_argument("entity", metavar="ENTITY")

    p = add("repost", "repost a post", "Repost a post given as a URL or as ENTITY ID. Post ids may "
            'start with "-": put them after "--" (tent status repost -- ENTITY ID).')
    p.add_argument("post", nargs="+", metavar="POST")

    p = add("deliveries", "show who got a post of yours and who did not yet",
            "List every recipient of one of your posts: delivered, pending (with the next try and "
            "why the last one failed) or failed.")
    p.add_argument("post", metavar="POST_ID")

    add("whoami", "show the saved login", "Print the entity, app and server this client uses.")
    add("logout", "forget the saved login", "Delete the saved login (the app stays authorized on "
        "the server until you revoke it on your owner page, Apps).")

    p = add("delete", "delete one of your posts", "Delete one of your posts (all its versions). Post "
            'ids may start with "-": put them after "--" (tent status delete -- ID).')
    p.add_argument("post", metavar="POST_ID")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tent status", description="A command-line Tent status client.")
    configure(parser)
    return parser


class _Output:
    def __init__(self, as_json: bool, out: TextIO, err: TextIO) -> None:
        self.as_json, self.out, self.err = as_json, out, err

    def say(self, message: str) -> None:
        """Progress and human messages; on stderr in JSON mode so stdout stays parseable."""
        print(message, file=self.err if self.as_json else self.out, flush=True)

    def emit(self, value: Any) -> None:
        print(json.dumps(value, ensure_ascii=False), file=self.out, flush=True)


def _when(ms: Any) -> str:
    if not isinstance(ms, int):
        return "?"
    local = datetime.fromtimestamp(ms / 1000).astimezone()
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or local.strftime("%z"))


def _indented(text: str) -> str:
    return "\n".join("    " + line for line in (text.splitlines() or [""]))


def _describe(post: dict[str, Any]) -> str:
    content = post.get("content") if isinstance(post.get("content"), dict) else {}
    text = content.get("text")
    return text if isinstance(text, str) else f"({post.get('type')})"


def _print_timeline(result: commands.Timeline, output: _Output) -> None:
    if not result.posts:
        output.say("No statuses yet.")
    for post in result.posts:
        header = f"{_when(post.get('published_at'))}  {post.get('entity')}  [{post.get('id')}]"
        ref = commands.repost_ref(post)
        if ref is None:
            output.say(f"{header}\n{_indented(_describe(post))}")
            continue
        original = result.reposted.get(ref)
        if original is None:
            output.say(f"{header}  reposted {ref[0]} {ref[1]} (not available)")
        else:
            output.say(f"{header}  reposted {original.get('entity')} "
                       f"({_when(original.get('published_at'))}):\n{_indented(_describe(original))}")
    token = result.next_token
    if token:
        output.say(f"More: tent status timeline --before {token}   (or --page next)")


def _print_deliveries(rows: list[dict[str, Any]], output: _Output) -> None:
    if not rows:
        output.say("Nobody else gets this post (it is private, or nobody follows or is mentioned).")
    for d in rows:
        line = f"{d.get('state')}  {d.get('target')}  ({d.get('attempts')} attempts)"
        if d.get("state") == "pending" and d.get("next_attempt_at"):
            line += f"; next try {_when(d['next_attempt_at'])}"
        if d.get("state") != "delivered" and d.get("last_error"):
            line += f"; last error: {d['last_error']}"
        output.say(line)


async def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None,
              open_url: OpenUrl | None = None) -> int:
    """Run one parsed status command; returns the exit code. ``open_url`` replaces the web
    browser for the OAuth flow (tests follow the URL themselves)."""
    out, err = out or sys.stdout, err or sys.stderr
    output = _Output(bool(getattr(args, "json", False)), out, err)
    try:
        await _dispatch(args, output, open_url)
    except ClientError as exc:
        print(f"error: {exc}", file=err, flush=True)
        return 1
    return 0


async def _dispatch(args: argparse.Namespace, output: _Output, open_url: OpenUrl | None) -> None:
    path = config_path(args.config)
    command = args.status_command
    if command == "post":
        commands.normalise_status(args.text)  # refuse before opening any connection
    async with http_session() as http:
        if command == "login":
            options = LoginOptions(name=args.name, wait=not args.no_wait, force_oauth=args.oauth,
                                   poll_interval=args.poll_interval, timeout=args.timeout,
                                   open_url=open_url, say=output.say)
            cfg = await login(http, args.entity, path, options)
            done = "token" in cfg
            if output.as_json:
                output.emit({"entity": cfg["entity"], "app_id": cfg["app_id"],
                             "status": "logged_in" if done else "pending", "config": str(path)})
            elif done:
                output.say(f"Logged in as {cfg['entity']}.")
            return
        if command == "logout":
            gone = config_file.remove(path)
            if output.as_json:
                output.emit({"logged_out": gone is not None, "entity": (gone or {}).get("entity")})
            elif gone:
                output.say(f"Logged out of {gone.get('entity')}. The app stays authorized until you "
                           f"revoke it at {gone.get('entity')}/owner/apps.")
            else:
                output.say("Not logged in; nothing to do.")
            return
        account = await commands.open_account(http, path)
        if command == "whoami":
            info = commands.whoami(account)
            if output.as_json:
                output.emit(info)
            else:
                output.say(f"{info['entity']} (app {info['app_id']}, server {info['server']})")
        elif command == "post":
            post = await commands.post_status(account, args.text, reply_to=args.reply_to,
                                              mentions=args.mention, private=args.private,
                                              attach=args.attach)
            url = commands.post_url(account, post)
            output.emit({"post": post, "url": url}) if output.as_json else output.say(url)
        elif command == "deliveries":
            rows = await commands.deliveries(account, args.post)
            output.emit({"post": args.post, "deliveries": rows}) if output.as_json else \
                _print_deliveries(rows, output)
        elif command == "timeline":
            result = await commands.timeline(account, limit=args.limit, before=args.before, page=args.page)
            output.emit(result.feed) if output.as_json else _print_timeline(result, output)
        elif command == "follow":
            done = await commands.follow(account, args.entity, check=args.discover)
            if output.as_json:
                output.emit(done)
            elif done["created"]:
                output.say(f"Following {done['entity']}.")
            else:
                output.say(f"Already following {done['entity']}; nothing to do.")
        elif command == "unfollow":
            done = await commands.unfollow(account, args.entity)
            if output.as_json:
                output.emit(done)
            elif done["deleted"]:
                output.say(f"Unfollowed {done['entity']}.")
            else:
                output.say(f"Not following {done['entity']}; nothing to do.")
        elif command == "repost":
            post = await commands.repost(account, " ".join(args.post))
            output.emit({"post": post}) if output.as_json else output.say(post["id"])
        elif command == "delete":
            record = await commands.delete_post(account, args.post)
            if output.as_json:
                output.emit({"deleted": args.post, "post": record})
            else:
                output.say(f"Deleted {args.post}.")


async def run_argv(argv: Sequence[str], **kwargs: Any) -> int:
    """`tent status ARGV…` in-process (what the tests call)."""
    return await run(build_parser().parse_args(list(argv)), **kwargs)


def main(args: argparse.Namespace) -> int:
    """Entry from `tent status`: one event loop per command; Ctrl-C is not an error trace."""
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
