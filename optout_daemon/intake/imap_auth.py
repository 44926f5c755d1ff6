"""Connecting and logging in to an IMAP account: TLS, passwords, XOAUTH2 tokens.

Blocking (imapclient); call from a thread. Secrets are read when needed and never logged.
Two kinds of failure leave this module: `AuthFailed` (the server refused the credentials, or they
cannot be read: retry slowly, tell the operator) and anything else (network or server trouble:
reconnect with backoff).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import ssl
import subprocess
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from optout_daemon.settings import ImapAccountSettings

CONNECT_TIMEOUT_SECONDS = 30.0
TOKEN_COMMAND_TIMEOUT_SECONDS = 60.0


class AuthFailed(Exception):
    """The server refused the login, or the configured secret cannot be read. str() says which."""


def ssl_context(acc: ImapAccountSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=acc.ca_file or None)
    if not acc.verify_certificate:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def read_password(acc: ImapAccountSettings) -> str:
    """The password from password_file, else password_env, else password (whitespace-trimmed file)."""
    if acc.password_file:
        try:
            return Path(acc.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise AuthFailed(f"cannot read password_file {acc.password_file} ({exc.strerror}): "
                             f"check the path and its permissions") from None
    if acc.password_env:
        value = os.environ.get(acc.password_env)
        if value is None:
            raise AuthFailed(f"environment variable {acc.password_env} (password_env) is not set: "
                             f"set it in the service's environment")
        return value
    return acc.password


class TokenSource:
    """An OAuth2 access token read from oauth2_token_file or printed by oauth2_token_command.

    The token is cached; `get(refresh=True)` reads the file again or runs the command again, which
    is what happens when the server rejects the cached token.
    """

    def __init__(self, acc: ImapAccountSettings) -> None:
        self.acc = acc
        self._token = ""

    @property
    def configured(self) -> bool:
        return bool(self.acc.oauth2_token_file or self.acc.oauth2_token_command)

    def get(self, refresh: bool = False) -> str:
        if refresh or not self._token:
            self._token = self._fetch()
        return self._token

    def _fetch(self) -> str:
        if self.acc.oauth2_token_file:
            try:
                token = Path(self.acc.oauth2_token_file).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise AuthFailed(f"cannot read oauth2_token_file {self.acc.oauth2_token_file} "
                                 f"({exc.strerror}): check the path and its permissions") from None
        else:
            token = self._run_command()
        if not token:
            raise AuthFailed("the OAuth2 token source gave an empty token: check oauth2_token_file / "
                             "oauth2_token_command")
        return token

    def _run_command(self) -> str:
        cmd = self.acc.oauth2_token_command
        try:
            done = subprocess.run(shlex.split(cmd), capture_output=True, text=True,
                                  timeout=TOKEN_COMMAND_TIMEOUT_SECONDS, stdin=subprocess.DEVNULL, check=False)
        except (OSError, ValueError) as exc:
            raise AuthFailed(f"cannot run oauth2_token_command ({type(exc).__name__}: {exc}): "
                             f"check the command") from None
        except subprocess.TimeoutExpired:
            raise AuthFailed(f"oauth2_token_command did not finish within "
                             f"{int(TOKEN_COMMAND_TIMEOUT_SECONDS)} s") from None
        if done.returncode != 0:
            raise AuthFailed(f"oauth2_token_command exited with status {done.returncode}: "
                             f"{done.stderr.strip()[:200]}")
        lines = done.stdout.strip().splitlines()
        return lines[-1].strip() if lines else ""


def connect(acc: ImapAccountSettings, timeout: float = CONNECT_TIMEOUT_SECONDS) -> IMAPClient:
    """A connection (TLS as configured), not yet logged in."""
    ctx = ssl_context(acc) if acc.tls != "none" else None
    client = IMAPClient(acc.host, port=acc.port, ssl=acc.tls == "implicit", ssl_context=ctx, timeout=timeout)
    if acc.tls == "starttls":
        try:
            client.starttls(ctx)
        except BaseException:
            drop(client)
            raise
    return client


def open_session(acc: ImapAccountSettings, tokens: TokenSource, timeout: float = CONNECT_TIMEOUT_SECONDS
                 ) -> IMAPClient:
    """Connect and log in. XOAUTH2 when a token source is configured (one refresh on rejection)."""
    client = connect(acc, timeout)
    try:
        if tokens.configured:
            try:
                client.oauth2_login(acc.username, tokens.get())
                return client
            except LoginError:
                drop(client)
            # The cached token was rejected (expired or revoked): get a fresh one and try once more.
            token = tokens.get(refresh=True)
            client = connect(acc, timeout)
            try:
                client.oauth2_login(acc.username, token)
            except LoginError as exc:
                raise AuthFailed(f"the server rejected the OAuth2 token for the account "
                                 f"({_server_text(exc)}): renew the token or its consent") from None
            return client
        try:
            client.login(acc.username, read_password(acc))
        except LoginError as exc:
            raise AuthFailed(f"the server rejected the user name or password ({_server_text(exc)}): "
                             f"check username and password / password_file / password_env") from None
        return client
    except BaseException:
        drop(client)
        raise


def _server_text(exc: BaseException) -> str:
    return str(exc).strip()[:200] or type(exc).__name__


def drop(client: IMAPClient) -> None:
    """Close without a polite LOGOUT (the connection may be broken)."""
    with contextlib.suppress(Exception):  # already gone
        client.shutdown()
