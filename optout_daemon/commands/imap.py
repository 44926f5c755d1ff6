"""imap check: log in to each configured IMAP account, list folders, report what the server can do.

`check_account(account_settings)` is also what `doctor` calls: it returns report lines, or raises
`ImapCheckFailed` whose text says in plain words what is wrong and what to change.
"""

from __future__ import annotations

import argparse
import contextlib
import imaplib
import socket
import ssl

from optout_daemon.cli import CliError, Context
from optout_daemon.intake.imap_auth import AuthFailed, TokenSource, open_session
from optout_daemon.settings import ImapAccountSettings

CHECK_TIMEOUT_SECONDS = 15.0


class ImapCheckFailed(Exception):
    """The account cannot be used as configured; str() says why and what to change."""


def register(sub: argparse._SubParsersAction) -> None:
    imap = sub.add_parser("imap", help="IMAP intake").add_subparsers(dest="imap_command", metavar="ACTION")
    p = imap.add_parser("check", help="log in to each [[imap.accounts]], list folders, report IDLE/MOVE/UIDPLUS")
    p.add_argument("--account", default="", help="check only the account with this name")
    p.set_defaults(func=cmd_imap_check, needs_schema=False)


def cmd_imap_check(args: argparse.Namespace, ctx: Context) -> int:
    accounts = ctx.settings.imap.accounts
    if args.account:
        accounts = [a for a in accounts if a.name == args.account]
    if not accounts:
        raise CliError("no matching [[imap.accounts]] in the configuration: add one "
                       "(see config/optout.example.toml) or check --account")
    status = 0
    for acc in accounts:
        print(f"account {acc.name}: {acc.host}:{acc.port} (tls {acc.tls})")
        try:
            for line in check_account(acc):
                print(f"  {line}")
        except ImapCheckFailed as exc:
            print(f"  FAILED: {exc}")
            status = 1
    return status


def check_account(acc: ImapAccountSettings) -> list[str]:
    """Log in, list the folders, report capabilities; raise ImapCheckFailed saying what is wrong."""
    where = f"{acc.host}:{acc.port}"
    try:
        client = open_session(acc, TokenSource(acc), timeout=CHECK_TIMEOUT_SECONDS)
    except AuthFailed as exc:
        raise ImapCheckFailed(f"login failed: {exc}") from None
    except ssl.SSLCertVerificationError as exc:
        raise ImapCheckFailed(f"the certificate of {where} is not trusted ({exc.verify_message}): set ca_file to "
                              f"the CA that signed it (verify_certificate = false only for a test server)") from None
    except ssl.SSLError as exc:
        if acc.tls == "implicit" and acc.port == 143:
            hint = "port 143 usually needs tls = \"starttls\""
        elif acc.tls == "starttls" and acc.port == 993:
            hint = "port 993 usually needs tls = \"implicit\""
        else:
            hint = f"check that port {acc.port} speaks IMAP with tls = \"{acc.tls}\" (993: implicit, 143: starttls)"
        raise ImapCheckFailed(f"TLS with {where} failed ({exc.reason or exc}): {hint}") from None
    except socket.gaierror:
        raise ImapCheckFailed(f"the host name {acc.host!r} cannot be resolved: check host") from None
    except ConnectionRefusedError:
        raise ImapCheckFailed(f"nothing accepts connections on {where}: check host and port "
                              f"(993 for tls = \"implicit\", 143 for starttls or none)") from None
    except TimeoutError:
        raise ImapCheckFailed(f"{where} did not answer within {int(CHECK_TIMEOUT_SECONDS)} s: check host, "
                              f"port and any firewall between here and the server") from None
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapCheckFailed(f"{where} failed before login: {type(exc).__name__}: {str(exc)[:200]}") from None
    try:
        return _report(client, acc)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise ImapCheckFailed(f"the server broke off after login: {type(exc).__name__}: {str(exc)[:200]}") from None
    finally:
        with contextlib.suppress(Exception):  # the report (or the failure) is what matters
            client.logout()


def _report(client, acc: ImapAccountSettings) -> list[str]:
    caps = {c.decode("ascii", "replace").upper() for c in client.capabilities()}
    how = "XOAUTH2" if acc.oauth2_token_file or acc.oauth2_token_command else "password"
    lines = [f"logged in as {acc.username} ({how})"]
    folders = [name for _flags, _sep, name in client.list_folders()]
    lines.append(f"folders: {', '.join(sorted(folders))}")
    lines.append("IDLE: yes, new mail is pushed" if "IDLE" in caps
                 else f"IDLE: no, the mailbox is polled every {acc.poll_interval_seconds:g} s")
    lines.append("MOVE: yes" if "MOVE" in caps else "MOVE: no, processed mail is copied, flagged \\Deleted and expunged")
    lines.append("UIDPLUS: yes" if "UIDPLUS" in caps else
                 ("UIDPLUS: not needed (MOVE)" if "MOVE" in caps else
                  "UIDPLUS: no, EXPUNGE also removes any other message flagged \\Deleted in the mailbox"))
    missing = [m for m in acc.mailboxes if m not in folders]
    if missing:
        raise ImapCheckFailed(f"the mailbox {missing[0]!r} does not exist on the server (folders: "
                              f"{', '.join(sorted(folders))}): fix mailboxes")
    for mailbox in acc.mailboxes:
        status = client.folder_status(mailbox, ["MESSAGES", "UIDVALIDITY"])
        lines.append(f"mailbox {mailbox}: {status[b'MESSAGES']} messages waiting, UIDVALIDITY {status[b'UIDVALIDITY']}")
    if acc.processed_folder in folders:
        lines.append(f"processed folder {acc.processed_folder}: exists")
    else:
        lines.append(f"processed folder {acc.processed_folder}: missing, the daemon will create it")
    return lines
