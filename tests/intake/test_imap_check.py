"""`optout-daemon imap check` and check_account() against a real Dovecot: what works, what is wrong."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from optout_daemon.cli import main
from optout_daemon.commands.imap import ImapCheckFailed, check_account
from optout_daemon.settings import ImapAccountSettings
from tests.dovecot import Dovecot, require_dovecot, running_dovecot
from tests.helpers import free_port
from tests.intake.test_imap import write_config


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot()


def account(server: Dovecot, **changes) -> ImapAccountSettings:
    acc = ImapAccountSettings(name="test", host="127.0.0.1", port=server.port, tls="none", username=server.user,
                              password=server.password, poll_interval_seconds=30.0)
    return dataclasses.replace(acc, **changes)


def test_a_working_account_is_reported(dovecot):
    dovecot.append(b"Subject: one\r\n\r\nhello\r\n")
    lines = check_account(account(dovecot))
    text = "\n".join(lines)
    assert "logged in as marketing (password)" in text
    assert "IDLE: yes" in text and "MOVE: yes" in text
    assert "folders: INBOX" in text
    assert "mailbox INBOX: 1 messages waiting" in text
    assert "processed folder Processed: missing, the daemon will create it" in text


def test_a_server_without_idle_and_move_is_explained(tmp_path):
    require_dovecot()
    server = Dovecot(capability="IMAP4rev1 LITERAL+").start()
    try:
        text = "\n".join(check_account(account(server)))
    finally:
        server.close()
    assert "IDLE: no, the mailbox is polled every 30 s" in text
    assert "MOVE: no, processed mail is copied" in text
    assert "UIDPLUS: no, EXPUNGE also removes" in text


def test_xoauth2_login_is_checked(dovecot, tmp_path):
    token = tmp_path / "token"
    token.write_text(dovecot.password + "\n")
    text = "\n".join(check_account(account(dovecot, password="", oauth2_token_file=str(token))))
    assert "(XOAUTH2)" in text


@pytest.mark.parametrize("changes, says", [
    ({"password": "wrong"}, "login failed: the server rejected the user name or password"),
    ({"password": "", "password_env": "OPTOUT_TEST_UNSET_PASSWORD"}, "OPTOUT_TEST_UNSET_PASSWORD (password_env) is not set"),
    ({"mailboxes": ["Opt-outs"]}, "the mailbox 'Opt-outs' does not exist"),
    ({"tls": "implicit"}, "TLS with 127.0.0.1"),
    ({"host": "no-such-host.invalid"}, "cannot be resolved"),
])
def test_what_is_wrong_is_said_in_plain_words(dovecot, changes, says):
    with pytest.raises(ImapCheckFailed) as err:
        check_account(account(dovecot, **changes))
    assert says in str(err.value)


def test_nothing_listening():
    acc = ImapAccountSettings(name="x", host="127.0.0.1", port=free_port(), tls="none", username="u", password="p")
    with pytest.raises(ImapCheckFailed, match="nothing accepts connections on 127.0.0.1"):
        check_account(acc)


def test_the_command_reports_each_account(dovecot, tmp_path, capsys):
    cfg = write_config(tmp_path, dovecot)
    assert main(["--config", str(cfg), "imap", "check"]) == 0
    out = capsys.readouterr().out
    assert f"account test: 127.0.0.1:{dovecot.port} (tls none)" in out and "IDLE: yes" in out
    bad = write_config(tmp_path, dovecot, auth='password = "wrong"')
    assert main(["--config", str(bad), "imap", "check"]) == 1
    assert "FAILED: login failed" in capsys.readouterr().out
    assert main(["--config", str(bad), "imap", "check", "--account", "nope"]) == 1
    assert "no matching [[imap.accounts]]" in capsys.readouterr().err


@pytest.fixture
def tls_dovecot() -> Iterator[Dovecot]:
    require_dovecot()
    server = Dovecot(tls=True).start()
    yield server
    server.close()


def test_implicit_tls_and_starttls_with_a_ca_file(tls_dovecot):
    server, ca = tls_dovecot, str(tls_dovecot.cert)
    implicit = "\n".join(check_account(account(server, tls="implicit", port=server.tls_port, ca_file=ca)))
    starttls = "\n".join(check_account(account(server, tls="starttls", ca_file=ca)))
    assert "IDLE: yes" in implicit and "IDLE: yes" in starttls


def test_an_untrusted_certificate_is_refused_in_plain_words(tls_dovecot):
    server = tls_dovecot
    with pytest.raises(ImapCheckFailed, match="is not trusted .*set ca_file"):
        check_account(account(server, tls="implicit", port=server.tls_port))
    with pytest.raises(ImapCheckFailed, match="is not trusted"):
        check_account(account(server, tls="starttls"))
    lines = check_account(account(server, tls="implicit", port=server.tls_port, verify_certificate=False))
    assert "IDLE: yes" in "\n".join(lines)
