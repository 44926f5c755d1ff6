"""status, export, tokens: what marketing systems use to know whose CPNI they may use (R3).

`status ACCOUNT` exits 0 when marketing use is allowed and 3 when it is not; any other exit code
(1: the store cannot be reached, 2: a configuration error) must be read as "not allowed" too.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, TextIO

from optout_daemon.cli import CliError, Context

DENIED = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="may this customer's CPNI be used for marketing? exit 0 yes, 3 no")
    p.add_argument("account", metavar="ACCOUNT")
    p.add_argument("--json", action="store_true", help="print the answer as JSON (as the HTTP API does)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("export", help="the suppression list: customers whose CPNI may not be used, with since-when")
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("--output", metavar="FILE", help="write to FILE (replaced only when complete) instead of stdout")
    p.set_defaults(func=cmd_export)

    tok = sub.add_parser("tokens", help="bearer tokens for the consent API").add_subparsers(
        dest="tokens_command", metavar="ACTION")
    p = tok.add_parser("add", help="create a token and print it once (only its hash is stored)")
    p.add_argument("name", metavar="NAME", help="who uses it, e.g. crm or campaign-tool")
    p.set_defaults(func=cmd_tokens_add)
    p = tok.add_parser("list", help="list tokens (names and dates; tokens themselves are not stored)")
    p.set_defaults(func=cmd_tokens_list)
    p = tok.add_parser("revoke", help="revoke a token at once")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=cmd_tokens_revoke)


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.suppression import consent_answer  # noqa: PLC0415

    try:
        with ctx.engine.execution_options(readonly=True).connect() as conn:
            answer = consent_answer(conn, args.account, ctx.settings.policy.default_consent)
    except CliError:
        raise
    except Exception as exc:  # noqa: BLE001 - no answer means no
        raise CliError(f"cannot read the consent store ({type(exc).__name__}); treat {args.account} as NOT "
                       f"allowed and check database.url") from None
    if args.json:
        print(json.dumps(answer.as_dict()))
    else:
        verdict = "ALLOWED" if answer.marketing_allowed else "NOT ALLOWED"
        since = f" since {answer.since:%Y-%m-%d %H:%M:%S} UTC" if answer.since else ""
        state = f"{answer.state}{since}" if answer.known else "no such customer"
        print(f"account {answer.account or args.account!r}: marketing use {verdict} ({state}; {answer.reason})")
    return 0 if answer.marketing_allowed else DENIED


def cmd_export(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.suppression import iter_suppression  # noqa: PLC0415

    default = ctx.settings.policy.default_consent
    with ctx.engine.execution_options(readonly=True).connect() as conn:
        rows = iter_suppression(conn, default)
        if not args.output:
            count = _write(rows, args.format, sys.stdout)
        else:
            count = _write_file(rows, args.format, Path(args.output))
    where = args.output or "stdout"
    print(f"exported {count} customer(s) whose CPNI may not be used for marketing to {where}", file=sys.stderr)
    return 0


def _write_file(rows: Iterable[dict[str, Any]], fmt: str, path: Path) -> int:
    """Write next to the target and rename, so that a reader never sees half a list."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or Path("."))
    except OSError as exc:
        raise CliError(f"cannot write in {path.parent}: {exc.strerror}; choose another --output") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            count = _write(rows, fmt, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def _write(rows: Iterable[dict[str, Any]], fmt: str, out: TextIO) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["account", "state", "since", "explicit", "emails"])
        for r in rows:
            writer.writerow([r["account"], r["state"], r["since"] or "", "yes" if r["explicit"] else "default",
                             ";".join(r["emails"])])
            count += 1
    else:
        for r in rows:
            out.write(json.dumps({k: v for k, v in r.items() if k != "id"}) + "\n")
            count += 1
    return count


def cmd_tokens_add(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.tokens import TokenError, add_token  # noqa: PLC0415

    try:
        token = add_token(ctx.engine, args.name)
    except TokenError as exc:
        raise CliError(str(exc)) from None
    print(token)
    print(f"token {args.name} created. It is shown only this once: give it to the system that will call "
          f"the API (Authorization: Bearer <token>).", file=sys.stderr)
    return 0


def cmd_tokens_list(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.tokens import list_tokens  # noqa: PLC0415

    found = list_tokens(ctx.engine)
    if not found:
        print("no tokens: create one with 'optout-daemon tokens add NAME'", file=sys.stderr)
    for t in found:
        used = f"last used {t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never used"
        state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
        print(f"{t.name}\t{state}\tcreated {t.created_at:%Y-%m-%d %H:%M}\t{used}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.tokens import TokenError, revoke_token  # noqa: PLC0415

    try:
        revoke_token(ctx.engine, args.name)
    except TokenError as exc:
        raise CliError(str(exc)) from None
    print(f"token {args.name} revoked: the API refuses it from now on")
    return 0
