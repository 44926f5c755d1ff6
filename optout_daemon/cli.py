"""The command line. Thin: each command calls the functions the daemon itself uses.

Commands live in optout_daemon/commands/*.py; each module has `register(subparsers)` that adds its
parsers and sets `func(args, ctx) -> int`. Errors print one line that says what to do.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from functools import cached_property
from typing import Sequence

from optout_daemon import __version__
from optout_daemon.settings import Settings, SettingsError, load_settings


class CliError(Exception):
    """A failure the user can fix; str() says how. Exit code 1 unless `code` says otherwise."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Context:
    """What commands share, built on first use (so --help needs no database)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @cached_property
    def settings(self) -> Settings:
        return load_settings(getattr(self.args, "config", None))

    @cached_property
    def engine(self):  # noqa: ANN201
        from optout_daemon.store.db import current_revision, head_revision, make_engine  # noqa: PLC0415

        engine = make_engine(self.settings.database.url, self.settings.database.pool_size,
                             self.settings.database.busy_timeout_seconds)
        if getattr(self.args, "needs_schema", True):
            try:
                revision = current_revision(engine)
            except Exception as exc:  # noqa: BLE001
                raise CliError(f"cannot reach the database ({one_line(exc)}): check "
                               f"database.url / OPTOUT_DATABASE_URL") from None
            if revision != head_revision():
                raise CliError("the database schema is not up to date: run 'optout-daemon db upgrade' first")
        return engine

    def configure_logging(self) -> None:
        from optout_daemon.logs import configure_logging  # noqa: PLC0415

        s = self.settings.logging
        configure_logging(s.level, s.format, s.debug_unredacted, stream=sys.stderr)


def one_line(exc: BaseException, limit: int = 200) -> str:
    """An error in one line: the driver's own message (not SQLAlchemy's wrapper and its links)."""
    inner = getattr(exc, "orig", None) or exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optout-daemon", description="Honours CPNI marketing opt-outs sent by email.")
    parser.add_argument("--config", metavar="PATH", help="TOML settings file (default: $OPTOUT_CONFIG, else built-in defaults)")
    parser.add_argument("--version", action="version", version=f"optout-daemon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import optout_daemon.commands as commands  # noqa: PLC0415

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"optout_daemon.commands.{info.name}")
        register = getattr(module, "register", None)
        if register:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):  # a command without its action: that command's help
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        (commands.choices.get(args.command) or parser).print_help(sys.stderr)
        return 2
    ctx = Context(args)
    try:
        return int(args.func(args, ctx) or 0)
    except SettingsError as exc:
        print(f"optout-daemon: config error: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"optout-daemon: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
