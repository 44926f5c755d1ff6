"""review list | show ID | resolve ID: the review queue from the command line (same code as the console)."""

from __future__ import annotations

import argparse
import getpass
import json
import textwrap

from optout_daemon.cli import CliError, Context


def register(sub: argparse._SubParsersAction) -> None:
    rev = sub.add_parser("review", help="the review queue").add_subparsers(dest="review_command", metavar="ACTION")
    p = rev.add_parser("list", help="open review items, oldest first")
    p.add_argument("--reason", default="", help="only items with this reason (e.g. no_customer)")
    p.add_argument("--language", default="", help="only items in this language (en, es)")
    p.add_argument("--older-than", type=float, default=0.0, metavar="HOURS", help="only items older than this")
    p.add_argument("--overdue", action="store_true", help="only items past their deadline")
    p.add_argument("--sort", choices=("oldest", "time_left"), default="oldest")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_list)
    p = rev.add_parser("show", help="an item: why it is here, candidates and the message as text")
    p.add_argument("id", type=int, metavar="ID")
    p.set_defaults(func=cmd_show)
    p = rev.add_parser("resolve", help="decide an item (final): opt_out, opt_in, unrelated or no_action")
    p.add_argument("id", type=int, metavar="ID", nargs="+")
    p.add_argument("--action", required=True, choices=("opt_out", "opt_in", "unrelated", "no_action"))
    p.add_argument("--customer", default="", metavar="ACCOUNT", help="account number (needed for opt_out/opt_in)")
    p.add_argument("--note", default="")
    p.add_argument("--operator", default="", help="who decides (default: your login name)")
    p.set_defaults(func=cmd_resolve)


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store import review  # noqa: PLC0415

    f = review.QueueFilter(reason=args.reason, language=args.language, min_age_hours=args.older_than,
                           overdue_only=args.overdue, sort=args.sort, page=args.page)
    with ctx.engine.execution_options(readonly=True).connect() as conn:
        page = review.list_open(conn, f)
    for r in page.rows:
        if args.json:
            print(json.dumps({"id": r.id, "created_at": r.created_at.isoformat(), "due_at": r.due_at.isoformat(),
                              "overdue": r.overdue, "intent": r.intent, "confidence": round(r.confidence, 4),
                              "reasons": r.reasons, "language": r.language, "candidates": r.candidates,
                              "claimed_by": r.claimed_by}))
        else:
            from optout_daemon.console.review import left  # noqa: PLC0415

            print(f"{r.id:>7}  {r.created_at:%Y-%m-%d %H:%M}  {left(r.seconds_left):<22} {r.intent or '?':<10} "
                  f"{r.language}  {','.join(r.reasons)}")
    if not args.json:
        print(f"-- page {page.page}/{page.pages}: {page.total} matching, {page.open_total} open, "
              f"{page.overdue} overdue")
    return 0


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.console.review import left  # noqa: PLC0415
    from optout_daemon.store import review  # noqa: PLC0415

    with ctx.engine.execution_options(readonly=True).connect() as conn:
        item = review.get_item(conn, args.id)
    if item is None:
        raise CliError(f"review item {args.id} does not exist: see 'optout-daemon review list'")
    print(f"item {item.id}: {item.status}" + (f", {left(item.seconds_left)}" if item.status == "open" else ""))
    print(f"received {item.created_at:%Y-%m-%d %H:%M} UTC, due {item.due_at:%Y-%m-%d %H:%M} UTC")
    print(f"intent {item.intent or '?'} at {item.confidence:.2f}; reasons: {', '.join(item.reasons)}")
    if item.scores:
        print(f"scores ({item.classifier}): " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(item.scores.items())))
    if item.claimed_by and item.status == "open":
        print(f"claimed by {item.claimed_by} until {item.claim_expires_at:%H:%M} UTC")
    for c in item.candidates:
        evidence = "; ".join(f"{e['kind']}={e['value']} ({e['strength']})" for e in c.get("evidence", []))
        print(f"candidate {c['account_number']}: {evidence}")
    if item.resolution:
        r = item.resolution
        print(f"decided {r['resolution']} by {r['resolved_by']} at {r['resolved_at']} {r['note']}".rstrip())
    if item.message:
        print()
        for name, value in item.message.headers:
            print(f"{name}: {value}")
        print()
        for text in item.message.texts or ["(HTML only; open it in the console)"]:
            print(textwrap.indent(text.strip(), "  "))
    return 0


def cmd_resolve(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store import review  # noqa: PLC0415

    operator = args.operator or getpass.getuser()
    try:
        done = review.resolve_items(ctx.engine, args.id, args.action, args.customer or None, operator, args.note,
                                    settings=ctx.settings)
    except review.ReviewError as exc:
        raise CliError(str(exc)) from None
    for r in done:
        change = f"consent event {r.consent_event_id}" if r.consent_event_id else "no change of consent"
        print(f"item {r.item_id}: {r.action} ({change}, {len(r.notice_ids)} notice(s) queued) by operator:{operator}")
    return 0
