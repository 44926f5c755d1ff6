"""run, analyze, db, customers, model."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from optout_daemon.cli import CliError, Context


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the daemon (SMTP intake, worker, outbox, console)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("analyze", help="show what the daemon would do with message files; writes nothing")
    p.add_argument("files", nargs="+", metavar="FILE", help="raw RFC 5322 message files (.eml)")
    p.set_defaults(func=cmd_analyze)

    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", metavar="ACTION")
    p = db.add_parser("upgrade", help="create or migrate the schema to the current version")
    p.set_defaults(func=cmd_db_upgrade, needs_schema=False)
    p = db.add_parser("current", help="print the schema version")
    p.set_defaults(func=cmd_db_current, needs_schema=False)

    cust = sub.add_parser("customers", help="customer records").add_subparsers(dest="customers_command",
                                                                               metavar="ACTION")
    p = cust.add_parser("import", help="import or update customers from a CSV file (all or nothing)")
    p.add_argument("file", metavar="FILE.csv", help="columns: account_number,name,emails,phones,postal_zip")
    p.set_defaults(func=cmd_customers_import)
    p = cust.add_parser("show", help="print a customer, their consent state and history")
    p.add_argument("account", metavar="ACCOUNT")
    p.set_defaults(func=cmd_customers_show)

    model = sub.add_parser("model", help="the intent classifier").add_subparsers(dest="model_command",
                                                                                 metavar="ACTION")
    p = model.add_parser("train", help="train the spaCy intent model from models/training/")
    p.add_argument("--data", default="models/training", help="training data folder (default: models/training)")
    p.add_argument("--out", default="models/intent", help="where to write the model (default: models/intent)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_model_train)
    p = model.add_parser("evaluate", help="per-class precision, recall and F1 on the held-out set, then the "
                                          "decisions over it (missed opt-outs, wrong automatic actions, "
                                          "share automated), model beside the keyword baseline")
    p.add_argument("--model", default="", help="model folder (default: the shipped models/intent)")
    p.add_argument("--heldout", default="models/training/heldout.jsonl")
    p.set_defaults(func=cmd_model_evaluate)


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    # A SIGTERM during start-up (before the loop owns the signals) still means "stop cleanly".
    early_signals: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early_signals.append(signum))
    from optout_daemon.logs import configure_logging  # noqa: PLC0415

    s = ctx.settings
    configure_logging(s.logging.level, s.logging.format, s.logging.debug_unredacted)
    engine = ctx.engine
    from optout_daemon.service import Daemon  # noqa: PLC0415

    if s.classifier.kind == "model":
        from optout_daemon.pipeline.classify import shipped_model_dir  # noqa: PLC0415

        model = Path(s.classifier.model_path) if s.classifier.model_path else shipped_model_dir()
        if not (model / "meta.json").exists():
            raise CliError(f"no trained model at {model}: run 'optout-daemon model train', set "
                           f"classifier.model_path, or set classifier.kind = \"keywords\"")
    daemon = Daemon(s, engine=engine)
    daemon.early_signals = early_signals
    try:
        return asyncio.run(_serve(daemon))
    except OSError as exc:
        raise CliError(f"cannot listen ({exc.strerror}): another process may hold smtp.port "
                       f"{s.smtp.port} or console.port {s.console.port}; change them or stop that process") from None


async def _serve(daemon: Any) -> int:
    return await daemon.serve()


def cmd_analyze(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.pipeline.run import Pipeline, customer_context, outcome  # noqa: PLC0415
    from optout_daemon.store import ledger  # noqa: PLC0415
    from optout_daemon.store.customers import DbDirectory  # noqa: PLC0415
    from optout_daemon.store.tables import utcnow  # noqa: PLC0415

    s = ctx.settings
    try:
        pipeline = Pipeline.from_settings(s)
    except FileNotFoundError as exc:
        raise CliError(str(exc)) from None
    status = 0
    now = utcnow()
    with ctx.engine.execution_options(readonly=True).connect() as conn:
        directory = DbDirectory(conn)
        for name in args.files:
            try:
                raw = Path(name).read_bytes()
            except OSError as exc:
                print(json.dumps({"file": name, "error": f"cannot read: {exc.strerror}"}))
                status = 1
                continue
            analysis = pipeline.analyze(raw, directory, now)
            context = None
            if analysis.resolution and analysis.resolution.customer:
                cid = analysis.resolution.customer.customer_id
                current = ledger.current_consent(conn, cid, s.policy.default_consent)
                context = customer_context(directory, current.state, current.last_confirmed_at, cid, now,
                                           s.policy.address_of_record_days)
            decision = pipeline.decide(analysis, context, now)
            print(json.dumps({"file": name, **outcome(analysis, decision)}, ensure_ascii=False))
            sys.stdout.flush()
    return status


def cmd_db_upgrade(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.db import current_revision, upgrade  # noqa: PLC0415

    try:
        upgrade(ctx.engine)
        print(f"database schema at {current_revision(ctx.engine)} ({ctx.engine.url.render_as_string()})")
    except Exception as exc:  # noqa: BLE001
        raise CliError(f"migration failed ({type(exc).__name__}: {str(exc)[:300]}): check database.url "
                       f"and that the database server is running") from None
    return 0


def cmd_db_current(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.db import current_revision, head_revision  # noqa: PLC0415

    current = current_revision(ctx.engine)
    print(f"current: {current or 'none (run optout-daemon db upgrade)'}; head: {head_revision()}")
    return 0 if current == head_revision() else 1


def cmd_customers_import(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.customers import ImportError_, import_rows, read_csv  # noqa: PLC0415

    try:
        rows = read_csv(Path(args.file), ctx.settings.policy.default_region.upper())
    except ImportError_ as exc:
        raise CliError(str(exc)) from None
    report = import_rows(ctx.engine, rows)
    print(f"imported {len(rows)} customers: {report.created} new, {report.updated} updated, "
          f"{report.emails_added} addresses and {report.phones_added} phone numbers added")
    return 0


def cmd_customers_show(args: argparse.Namespace, ctx: Context) -> int:
    from sqlalchemy import select  # noqa: PLC0415

    from optout_daemon.pipeline.resolve import normalize_account  # noqa: PLC0415
    from optout_daemon.store import ledger  # noqa: PLC0415
    from optout_daemon.store.tables import Customer, CustomerEmail, CustomerPhone  # noqa: PLC0415

    C, E, P = Customer.__table__, CustomerEmail.__table__, CustomerPhone.__table__
    with ctx.engine.execution_options(readonly=True).connect() as conn:
        row = conn.execute(select(C).where(C.c.account_number == normalize_account(args.account))).first()
        if row is None:
            raise CliError(f"no customer with account number {args.account}: check the number, or import "
                           f"the customer with 'optout-daemon customers import FILE.csv'")
        emails = conn.execute(select(E.c.email, E.c.on_record_since).where(E.c.customer_id == row.id)).all()
        phones = conn.execute(select(P.c.e164).where(P.c.customer_id == row.id)).scalars().all()
        current = ledger.current_consent(conn, row.id, ctx.settings.policy.default_consent)
        history = ledger.consent_history(conn, row.id)
    print(f"account:  {row.account_number}" + (f" (as stored; you typed {args.account})"
                                                  if args.account != row.account_number else ""))
    print(f"name:     {row.name}")
    print(f"zip:      {row.postal_zip}")
    for email, since in emails:
        when = "from the first import: of record" if since.year == 1970 else f"on the account since {since:%Y-%m-%d}"
        print(f"email:    {email} ({when})")
    for phone in phones:
        print(f"phone:    {phone}")
    since = f" since {current.since:%Y-%m-%d %H:%M:%S} UTC" if current.since and current.explicit else " (default)"
    print(f"consent:  {current.state.value}{since}")
    print("history:" if history else "history:  no consent events")
    for ev in history:
        print(f"  #{ev['id']} {ev['occurred_at']:%Y-%m-%d %H:%M:%S} {ev['old_state']} -> {ev['new_state']} "
              f"by {ev['decided_by']} via {ev['method']}"
              + (f", message {ev['inbound_message_id']}" if ev["inbound_message_id"] else "")
              + (f" ({ev['note']})" if ev["note"] else ""))
    return 0


def cmd_model_train(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.pipeline import intent_model  # noqa: PLC0415

    data, out = Path(args.data), Path(args.out)
    if not (data / "train.jsonl").exists():
        raise CliError(f"no training data at {data}/train.jsonl: run from the repository root or pass --data")
    report = intent_model.train(data, out, seed=args.seed)
    print(json.dumps(report, indent=2, default=str))
    return 0


def cmd_model_evaluate(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.pipeline import intent_model  # noqa: PLC0415
    from optout_daemon.pipeline.classify import shipped_model_dir  # noqa: PLC0415

    model = Path(args.model) if args.model else shipped_model_dir()
    heldout = Path(args.heldout)
    if not heldout.exists():
        raise CliError(f"no held-out set at {heldout}: run from the repository root or pass --heldout")
    if not (model / "meta.json").exists():
        raise CliError(f"no trained model at {model}: run 'optout-daemon model train' first")
    print(intent_model.evaluate(model, heldout))
    if args.model:
        print("\n(the decision table below is for the shipped model only: run without --model to see it)")
        return 0
    from optout_daemon.pipeline import evaluate_policy  # noqa: PLC0415

    print("\nWhat the daemon would do: the whole pipeline over the held-out set in four sender scenarios\n")
    return evaluate_policy.main(["--heldout", str(heldout), "--show", "0"])
