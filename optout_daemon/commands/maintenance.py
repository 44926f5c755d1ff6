"""purge (retention of raw message bodies) and doctor (is this installation able to run?)."""

from __future__ import annotations

import argparse
import json
import os
import smtplib
import socket
import ssl
import urllib.request
from pathlib import Path
from typing import Callable

from optout_daemon.cli import Context, one_line
from optout_daemon.settings import Settings, SettingsError, load_settings

Check = tuple[bool, str, str]  # ok, what was checked, what was found / what to do


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("purge", help="remove raw message bodies older than retention.raw_message_days "
                                     "(never consent events or states)")
    p.add_argument("--dry-run", action="store_true", help="only say what would be purged")
    p.set_defaults(func=cmd_purge)
    p = sub.add_parser("doctor", help="check configuration, database, model, ports, relay and IMAP; say what to fix")
    p.set_defaults(func=cmd_doctor, needs_schema=False)


def cmd_purge(args: argparse.Namespace, ctx: Context) -> int:
    from optout_daemon.store.retention import purge_raw_messages  # noqa: PLC0415

    report = purge_raw_messages(ctx.engine, ctx.settings.retention.raw_message_days, dry_run=args.dry_run)
    for line in report.lines():
        print(line)
    return 0


# --- doctor -------------------------------------------------------------------------------------

def cmd_doctor(args: argparse.Namespace, ctx: Context) -> int:
    try:
        settings = load_settings(getattr(args, "config", None))
    except SettingsError as exc:
        _print((False, "configuration", f"{exc}"))
        return 1
    overrides = sorted(k for k in os.environ if k.startswith("OPTOUT_") and k not in ("OPTOUT_CONFIG",))
    results: list[Check] = [(True, "configuration", f"loaded from {settings.source}"
                             + (f", overridden by {', '.join(overrides)}" if overrides else ""))]
    for check in (check_store, check_model, check_ports, check_relay, check_imap):
        for result in check(settings):
            results.append(result)
    for r in results:
        _print(r)
    failed = [r for r in results if not r[0]]
    print(f"{len(results) - len(failed)} OK, {len(failed)} FAIL")
    return 1 if failed else 0


def _print(result: Check) -> None:
    ok, what, detail = result
    print(f"{'OK  ' if ok else 'FAIL'} {what}: {detail}")


def check_store(settings: Settings) -> list[Check]:
    from optout_daemon.store.db import current_revision, head_revision, make_engine, sqlite_file  # noqa: PLC0415

    path = sqlite_file(settings.database.url)
    if path is not None and not path.exists():  # do not create it here: the daemon would start on an empty schema
        return [(False, "store", f"no database at {path} (from {Path.cwd()}): run 'optout-daemon db upgrade' "
                                 f"there, or set database.url")]
    engine = make_engine(settings.database.url, 1, min(settings.database.busy_timeout_seconds, 5.0))
    where = engine.url.render_as_string(hide_password=True)
    try:
        revision = current_revision(engine)
    except Exception as exc:  # noqa: BLE001
        return [(False, "store", f"{where} does not answer ({one_line(exc)}): check database.url and that the "
                                 f"database server runs")]
    finally:
        engine.dispose()
    head = head_revision()
    if revision == head:
        return [(True, "store", f"{where} answers"), (True, "migrations", f"at head ({head})")]
    return [(True, "store", f"{where} answers"),
            (False, "migrations", f"schema at {revision or 'none'}, code expects {head}: run "
                                  f"'optout-daemon db upgrade'")]


def check_model(settings: Settings) -> list[Check]:
    from optout_daemon.pipeline.classify import load_classifier  # noqa: PLC0415

    kind = settings.classifier.kind
    try:
        classifier = load_classifier(kind, settings.classifier.model_path)
        result = classifier.classify("Stop", "Please stop using my information for marketing.")
    except FileNotFoundError as exc:  # its message names the folder and the three ways out
        return [(False, f"classifier ({kind})", one_line(exc, 400))]
    except Exception as exc:  # noqa: BLE001
        fix = ("run 'optout-daemon model train', set classifier.model_path, or set classifier.kind = \"keywords\""
               if kind == "model" else "reinstall optout-daemon")
        return [(False, f"classifier ({kind})", f"does not load ({type(exc).__name__}: {one_line(exc)}): {fix}")]
    return [(True, f"classifier ({kind})", f"loads; a plain opt-out reads as {result.intent.value}")]


def check_ports(settings: Settings) -> list[Check]:
    out = []
    if settings.smtp.enabled:
        out.append(_port("smtp.port", settings.smtp.host, settings.smtp.port, _smtp_is_ours))
    if settings.console.enabled:
        out.append(_port("console.port", settings.console.host, settings.console.port, _http_is_ours))
    return out


def _port(key: str, host: str, port: int, is_ours: Callable[[str, int], bool]) -> Check:
    if port == 0:
        return True, key, "0: a free port is picked at start"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return True, key, f"{host}:{port} is free"
        except PermissionError:
            return False, key, (f"{host}:{port} needs CAP_NET_BIND_SERVICE (ports below 1024): use a port >= 1024 "
                                f"or add the drop-in described in systemd/optout-daemon.service")
        except OSError as exc:
            if is_ours(host, port):
                return True, key, f"{host}:{port} is held by a running optout-daemon"
            return False, key, (f"{host}:{port} is taken by another program ({exc.strerror}): stop it or change "
                                f"{key}")


def _smtp_is_ours(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            return b"optout-daemon" in conn.recv(512)
    except OSError:
        return False


def _http_is_ours(host: str, port: int) -> bool:
    url = f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - our own loopback URL
            body = json.loads(response.read(4096))
        return isinstance(body, dict) and body.get("status") == "ok" and "uptime_s" in body
    except (OSError, ValueError):
        return False


def check_relay(settings: Settings) -> list[Check]:
    n = settings.notices
    if not settings.relay_configured:
        return [(True, "relay", f"none configured: notices are written to the Maildir {n.maildir}")]
    where = f"{n.relay_host}:{n.relay_port}"
    try:
        if n.relay_tls_implicit:
            client: smtplib.SMTP = smtplib.SMTP_SSL(n.relay_host, n.relay_port, timeout=10,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(n.relay_host, n.relay_port, timeout=10)
        with client:
            code, _ = client.ehlo()
            if code != 250:
                return [(False, "relay", f"{where} refused EHLO ({code}): check the relay's settings")]
            if n.relay_starttls and not n.relay_tls_implicit:
                if not client.has_extn("starttls"):
                    return [(False, "relay", f"{where} does not offer STARTTLS: set notices.relay_starttls = false "
                                             f"only if the relay is on a trusted network")]
                client.starttls(context=ssl.create_default_context())
                client.ehlo()
            if n.relay_username:
                client.login(n.relay_username, n.relay_password)
    except smtplib.SMTPAuthenticationError:
        return [(False, "relay", f"{where} refused the login: check notices.relay_username and relay_password")]
    except (OSError, smtplib.SMTPException) as exc:
        return [(False, "relay", f"{where} cannot be reached ({type(exc).__name__}: {str(exc)[:160]}): check "
                                 f"notices.relay_host, relay_port and TLS settings")]
    return [(True, "relay", f"{where} answers EHLO" + (" and accepts the login" if n.relay_username else ""))]


def check_imap(settings: Settings) -> list[Check]:
    if not settings.imap.enabled:
        return [(True, "imap", "disabled")]
    try:
        from optout_daemon.commands.imap import ImapCheckFailed, check_account  # noqa: PLC0415
    except ImportError:
        check_account = None
    out: list[Check] = []
    for acc in settings.imap.accounts:
        what = f"imap account {acc.name} ({acc.host}:{acc.port})"
        if check_account is None:
            try:
                socket.create_connection((acc.host, acc.port), timeout=10).close()
                out.append((True, what, "accepts connections (login not checked)"))
            except OSError as exc:
                out.append((False, what, f"cannot connect ({exc.strerror or exc}): check host and port"))
            continue
        try:
            lines = check_account(acc)
            out.append((True, what, "; ".join(lines) if lines else "logs in"))
        except ImapCheckFailed as exc:
            out.append((False, what, str(exc)))
    return out
