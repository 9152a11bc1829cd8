"""`tent serve | migrate | credentials | passphrase | export | import | keys | status`: the command
line, configured like the server."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from tent.config import OPTIONS, Settings, settings_from


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    for opt in OPTIONS:
        flag = "--" + opt.field.replace("_", "-")
        parser.add_argument(flag, dest=opt.field, default=None, type=opt.parse,
                            help=f"{opt.help} [env {opt.env}]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tent", description="A personal Tent v0.3 server.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the server",
                           description="Run the Tent server. Every flag can also be set by the "
                                       "environment variable named in its help.")
    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    creds = sub.add_parser("credentials",
                           help="print (creating if absent) fully authorized owner app credentials")
    creds.add_argument("--json", action="store_true", help="print as one JSON object")
    phrase = sub.add_parser("passphrase", help="set the owner's passphrase (for approving apps)",
                            description="Set the passphrase the owner signs in with to approve apps. "
                                        "Asks twice on a terminal; reads one line from standard "
                                        "input otherwise.")
    export = sub.add_parser("export", help="write the whole server as JSON Lines (holds secrets)",
                            description="Write every post version, attachment, relationship, "
                                        "credential, key and pending delivery as JSON Lines. The "
                                        "file holds secrets: it is created readable by you only.")
    export.add_argument("--output", "-o", metavar="FILE", help="write here (mode 0600) instead of stdout")
    load = sub.add_parser("import", help="load an export into an empty database",
                          description="Load a `tent export` file into an empty database, in one "
                                      "transaction: a damaged file changes nothing.")
    load.add_argument("file", metavar="FILE", help="the export file, or - for standard input")
    keys = sub.add_parser("keys", help="the entity's Ed25519 signing keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser("rotate", help="add a key of the next life and publish it in the meta post")
    for p in (serve, migrate, creds, phrase, export, load, rotate):
        _add_setting_flags(p)
    from tent.client.cli import configure as configure_status

    configure_status(sub.add_parser("status", help="a command-line status client for any Tent v0.3 server",
                                    description="Post and read statuses on your entity from the "
                                                "command line; works with any Tent v0.3 server."))
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {opt.field: getattr(args, opt.field) for opt in OPTIONS}
    try:
        return settings_from(**overrides)
    except (ValueError, TypeError) as exc:
        sys.exit(f"tent: configuration error: {exc}")


@contextlib.asynccontextmanager
async def _pool(settings: Settings) -> AsyncIterator[Any]:
    """The migrated database, without the posts a server makes for itself at start."""
    from tent.app import open_database
    from tent.store import db

    dsn, embedded = await open_database(settings)
    pool = await db.create_pool(dsn, 2)
    try:
        async with pool.acquire() as conn:
            await db.migrate(conn)
        yield pool
    finally:
        await pool.close()
        del embedded


@contextlib.asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[Any]:
    from tent.bootstrap import ensure_meta_post
    from tent.services.publishing import Publisher
    from tent.store.db import Database
    from tent.store.federation import FederationStore
    from tent.store.posts import PostStore

    async with _pool(settings) as pool:
        store = PostStore(Database(pool))
        publisher = Publisher(settings, store, FederationStore(store.db, store.changes))
        await ensure_meta_post(settings, store, publisher)
        yield store


async def _migrate(settings: Settings) -> None:
    async with _store(settings):
        pass


async def _credentials(settings: Settings) -> dict[str, Any]:
    from tent.bootstrap import ensure_owner_app

    async with _store(settings) as store:
        return await ensure_owner_app(settings, store)


async def _set_passphrase(settings: Settings, passphrase: str) -> None:
    from tent.core.passphrase import hash_passphrase
    from tent.handlers.owner import PASSPHRASE_KEY
    from tent.store.state import ServerState

    hashed = await asyncio.get_running_loop().run_in_executor(None, hash_passphrase, passphrase)
    async with _store(settings) as store:
        await ServerState(store.db).set(PASSPHRASE_KEY, hashed)


def _read_passphrase() -> str:
    import getpass

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("New owner passphrase: ")
    if getpass.getpass("Again: ") != first:
        sys.exit("tent: the passphrases differ; nothing changed")
    return first


def _progress(verb: str) -> Any:
    """Progress on stderr, only when it is a terminal (a pipe or a log gets nothing)."""
    if not sys.stderr.isatty():
        return None

    def show(lines: int, size: int = 0) -> None:
        extra = f", {size / 1e6:.1f} MB" if size else ""
        print(f"\r{verb} {lines} lines{extra}", end="", file=sys.stderr, flush=True)

    return show


async def _export(settings: Settings, output: str | None) -> None:
    from tent import transfer
    async with _pool(settings) as pool:
        with transfer.private_output(output) as out:
            await transfer.export(pool, settings.entity, out.write, _progress("exported"))
    if sys.stderr.isatty():
        print(file=sys.stderr)


async def _import(settings: Settings, path: str) -> dict[str, int]:
    from tent import transfer

    async with _pool(settings) as pool:
        if path == "-":
            return await transfer.load(pool, settings.entity, sys.stdin.buffer, _progress("read"))
        with open(path, "rb") as lines:
            return await transfer.load(pool, settings.entity, lines, _progress("read"))


async def _rotate(settings: Settings) -> int:
    from tent import keys

    async with _store(settings) as store:
        return await keys.rotate(settings, store)


def _serve(settings: Settings, reuse_port: bool = False) -> None:
    from aiohttp import web

    from tent.app import create_app

    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    def listening(*_: object) -> None:
        """Called by aiohttp once the socket accepts: the database is up by then (D-75)."""
        logging.getLogger("tent").info("listening on http://%s:%d as %s",
                                       settings.host, settings.port, settings.entity)

    web.run_app(create_app(settings), host=settings.host, port=settings.port,
                access_log=None, print=listening, reuse_port=reuse_port)


def main(argv: Sequence[str] | None = None) -> None:
    from tent.store.db import UNAVAILABLE, DataDirError

    try:
        _main(argv)
    except DataDirError as exc:
        sys.exit(f"tent: {exc}")
    except UNAVAILABLE as exc:  # one line an operator can act on, not a traceback
        sys.exit(f"tent: cannot use the database: {exc or type(exc).__name__}")


def _main(argv: Sequence[str] | None) -> None:
    args = build_parser().parse_args(argv)
    if args.command == "status":  # a client: it takes no server settings
        from tent.client.cli import main as status_main

        sys.exit(status_main(args))
    settings = _settings(args)
    from tent import logs

    logs.configure(settings.log_level, settings.log_format)
    if args.command == "serve":
        if not settings.database_url:
            from tent.store import db

            db.check_data_dir(settings.data_dir)  # before anything starts: one line, no traceback
        from tent.core.startup_warnings import startup_warnings

        for warning in startup_warnings(settings.entity, settings.app_approval):
            logging.getLogger("tent").warning("%s", warning)
        if settings.workers > 1:  # a supervising parent and N forked workers on one port
            from functools import partial

            from tent import workers

            sys.exit(workers.run(settings, _migrate, partial(_serve, reuse_port=True)))
        _serve(settings)
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "passphrase":
        from tent.core.passphrase import MIN_LENGTH

        passphrase = _read_passphrase()
        if len(passphrase) < MIN_LENGTH:
            sys.exit(f"tent: the passphrase must have at least {MIN_LENGTH} characters")
        asyncio.run(_set_passphrase(settings, passphrase))
        print("owner passphrase set")
    elif args.command == "export":
        try:
            asyncio.run(_export(settings, args.output))
        except OSError as exc:
            sys.exit(f"tent: export failed: {exc}")
    elif args.command == "import":
        from tent.transfer import ImportFailed

        try:
            counts = asyncio.run(_import(settings, args.file))
        except (ImportFailed, OSError) as exc:
            sys.exit(f"tent: import failed, nothing was imported: {exc}")
        print("imported:")
        for kind, n in sorted(counts.items()):
            print(f"  {kind}: {n}")
    elif args.command == "keys":
        life = asyncio.run(_rotate(settings))
        print(f"signing key of life {life} added and published in the meta post")
    elif args.command == "credentials":
        creds = asyncio.run(_credentials(settings))
        if args.json:
            print(json.dumps(creds))
        else:
            for key, value in creds.items():
                print(f"{key}: {value}")
