"""operators add | list | disable | enable: the people who may sign in to the review console."""

from __future__ import annotations

import argparse
import getpass
import sys
import warnings

from optout_daemon.cli import CliError, Context


def register(sub: argparse._SubParsersAction) -> None:
    ops = sub.add_parser("operators", help="review console accounts").add_subparsers(dest="operators_command",
                                                                                   metavar="ACTION")
    p = ops.add_parser("add", help="create an operator; asks for the password twice")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    p.set_defaults(func=cmd_add)
    p = ops.add_parser("list", help="list operators")
    p.set_defaults(func=cmd_list)
    for verb in ("disable", "enable"):
        p = ops.add_parser(verb, help=f"{verb} an operator's sign-in")
        p.add_argument("name", metavar="NAME")
        p.set_defaults(func=cmd_disable if verb == "disable" else cmd_enable)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise CliError("no password on stdin: pipe it in, e.g. printf '%s\\n' \"$PW\" | optout-daemon operators add NAME --password-stdin")
        return password
    try:
        with warnings.catch_warnings():  # no terminal: say so, rather than read an echoed password
            warnings.simplefilter("error", getpass.GetPassWarning)
            first = getpass.getpass(f"Password for {args.name}: ")
            second = getpass.getpass("Again: ")
    except (EOFError, getpass.GetPassWarning):
        raise CliError("no terminal to ask for the password: use --password-stdin") from None
    if first != second:
        raise CliError("the two passwords differ: run the command again")
    return first


def cmd_add(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.console.auth import OperatorError, add_operator, valid_name  # noqa: PLC0415

    if not valid_name(args.name):
        raise CliError(f"operator name {args.name!r} is not allowed: use letters, digits, '.', '_', '-', '@'")
    try:
        add_operator(ctx.engine, args.name, _password(args))
    except OperatorError as exc:
        raise CliError(str(exc)) from None
    print(f"operator {args.name} added; they can sign in to the console now")
    return 0


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.console.auth import list_operators  # noqa: PLC0415

    for name, disabled, created in list_operators(ctx.engine):
        print(f"{name}\t{'disabled' if disabled else 'active'}\tsince {created:%Y-%m-%d}")
    return 0


def _set(args: argparse.Namespace, ctx: Context, disabled: bool) -> int:
    from optout_daemon.console.auth import OperatorError, set_disabled  # noqa: PLC0415

    try:
        set_disabled(ctx.engine, args.name, disabled)
    except OperatorError as exc:
        raise CliError(str(exc)) from None
    print(f"operator {args.name} {'disabled' if disabled else 'enabled'}")
    return 0


def cmd_disable(args: argparse.Namespace, ctx: Context) -> int:
    return _set(args, ctx, True)


def cmd_enable(args: argparse.Namespace, ctx: Context) -> int:
    return _set(args, ctx, False)
