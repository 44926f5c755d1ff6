"""A private Dovecot IMAP server for tests and benchmarks (see /work/shared/TEST-SERVERS.md).

Each instance has its own configuration directory, a free loopback port, one passwd-file user and
a Maildir in a temporary directory; nothing system-wide is touched. `stop()` / `start()` /
`restart()` let a test take the server away in the middle of a run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import free_port, require_server

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"


def dovecot_available() -> bool:
    return os.access(DOVECOT, os.X_OK)


def require_dovecot() -> None:
    require_server("dovecot", "dovecot-imapd (apt-get install -y dovecot-imapd)", dovecot_available)


class Dovecot:
    """One Dovecot master process serving IMAP on 127.0.0.1:`port` for `user` / `password`."""

    def __init__(self, *, user: str = "marketing", password: str = "s3cret-pw",
                 capability: str | None = None, auth_mechanisms: str = "plain login xoauth2",
                 tls: bool = False) -> None:
        # Not under pytest's tmp_path: that is mode 0700 root, and the mail user must reach its home.
        self.root = Path(tempfile.mkdtemp(prefix="optout-dovecot-"))
        self.root.chmod(0o755)
        self.user, self.password = user, password
        self.port = free_port()
        self.home = self.root / "home"
        self.home.mkdir()
        self.maildir = self.home / "Maildir"
        self.maildir.mkdir()
        self._uid, self._gid = (65534, 65534) if os.geteuid() == 0 else (os.getuid(), os.getgid())
        for path in (self.home, self.maildir):
            os.chown(path, self._uid, self._gid)
        (self.root / "users").write_text(f"{user}:{{PLAIN}}{password}:{self._uid}:{self._gid}::{self.home}::\n")
        # With tls: a self-signed certificate for 127.0.0.1 (self.cert is its own CA), STARTTLS on
        # `port` and implicit TLS on `tls_port`.
        self.cert = self.root / "cert.pem"
        self.tls_port = free_port() if tls else 0
        if tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", str(self.root / "key.pem"), "-out", str(self.cert)],
                           check=True, capture_output=True, timeout=60)
        self.conf = self.root / "dovecot.conf"
        self.conf.write_text(self._config(capability, auth_mechanisms))
        self.proc_pid: int | None = None

    def _config(self, capability: str | None, auth_mechanisms: str) -> str:
        if os.geteuid() == 0:
            users = "default_login_user = dovenull\ndefault_internal_user = dovecot\ndefault_internal_group = dovecot\n"
        else:
            import pwd

            me = pwd.getpwuid(os.getuid()).pw_name
            users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
        cap = f"imap_capability = {capability}\n" if capability else ""
        r = self.root
        ssl = f"ssl = yes\nssl_cert = <{r}/cert.pem\nssl_key = <{r}/key.pem" if self.tls_port else "ssl = no"
        return f"""protocols = imap
listen = 127.0.0.1
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
{ssl}
disable_plaintext_auth = no
auth_mechanisms = {auth_mechanisms}
{users}{cap}mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = {r}/users
}}
userdb {{
  driver = passwd-file
  args = {r}/users
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
"""

    # --- life cycle -------------------------------------------------------------------------------

    @property
    def pid_file(self) -> Path:
        return self.root / "run" / "master.pid"

    def start(self) -> Dovecot:
        # The master daemonizes and keeps its inherited stdio: give it a file, not a pipe.
        with open(self.root / "start.out", "w+b") as out:
            result = subprocess.run([DOVECOT, "-c", str(self.conf)], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, timeout=30, check=False)
            if result.returncode != 0:
                out.seek(0)
                raise RuntimeError(f"dovecot did not start: {out.read().decode(errors='replace')}\n{self.log()}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._accepts():
                self.proc_pid = int(self.pid_file.read_text().strip())
                return self
            time.sleep(0.05)
        raise RuntimeError(f"dovecot is not listening on port {self.port}\n{self.log()}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(100).startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the master and every child (connections are cut); wait until they are gone."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        # Children (imap, imap-login) exit when the master does; make sure none still holds the port.
        while time.monotonic() < deadline and self._accepts():
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Kill the instance (its master runs in its own session, so the whole group) and remove it."""
        try:
            pid = int(self.pid_file.read_text().strip())
            group = os.getpgid(pid)
        except (OSError, ValueError):
            group = None
        if group is not None and group != os.getpgrp():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        else:
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        try:
            return (self.root / "dovecot.log").read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    # --- what tests do as the mail user --------------------------------------------------------------

    def client(self):
        from imapclient import IMAPClient

        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30)
        c.login(self.user, self.password)
        return c

    def append(self, messages: list[bytes] | bytes, mailbox: str = "INBOX") -> None:
        if isinstance(messages, bytes):
            messages = [messages]
        c = self.client()
        try:
            if c.has_capability("MULTIAPPEND"):
                for i in range(0, len(messages), 500):
                    c.multiappend(mailbox, messages[i:i + 500])
            else:
                for raw in messages:
                    c.append(mailbox, raw)
        finally:
            c.logout()

    def count(self, mailbox: str = "INBOX") -> int:
        """Messages in `mailbox` not flagged \\Deleted (0 when the folder does not exist)."""
        c = self.client()
        try:
            if not c.folder_exists(mailbox):
                return 0
            c.select_folder(mailbox, readonly=True)
            return len(c.search(["NOT", "DELETED"]))
        finally:
            c.logout()

    def bodies(self, mailbox: str) -> list[bytes]:
        c = self.client()
        try:
            c.select_folder(mailbox, readonly=True)
            uids = c.search(["NOT", "DELETED"])
            return [d[b"BODY[]"] for d in c.fetch(uids, ["BODY.PEEK[]"]).values()] if uids else []
        finally:
            c.logout()

    def uidvalidity(self, mailbox: str = "INBOX") -> int:
        c = self.client()
        try:
            return int(c.folder_status(mailbox, ["UIDVALIDITY"])[b"UIDVALIDITY"])
        finally:
            c.logout()

    def set_uidvalidity(self, value: int, mailbox: str = "INBOX") -> None:
        """Reset the mailbox's UIDVALIDITY as a server migration would (every UID changes meaning)."""
        result = subprocess.run([DOVEADM, "-c", str(self.conf), "mailbox", "update", "-u", self.user,
                                 "--uid-validity", str(value), mailbox], capture_output=True, text=True, timeout=30, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"doveadm mailbox update failed: {result.stderr.strip()}")


class HoldingProxy:
    """A TCP relay to the server whose client-to-server bytes can be held, then dropped.

    A test holds the relay at a random moment; whatever the client sends meanwhile (a MOVE after a
    commit, say) never reaches the server once the connections are dropped.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hold = threading.Event()
        self.connections: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return
            self.connections.append((client, server))
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upstream: bool) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                break
            if not data:
                break
            while upstream and self.hold.is_set():
                time.sleep(0.001)
            try:
                dst.sendall(data)
            except OSError:
                break
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        """Cut every relayed connection; held bytes are thrown away."""
        connections, self.connections = self.connections, []
        for client, server in connections:
            for sock in (server, client):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.listener.close()
        self.drop()
        self.hold.clear()


def _alive(pid: int) -> bool:
    """True while the process runs (a zombie nobody reaps counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def running_dovecot() -> Iterator[Dovecot]:
    """For a fixture (`yield from running_dovecot()`): a started private Dovecot, closed afterwards;
    the test is skipped (failed under CI=true) when dovecot-imapd is missing."""
    require_dovecot()
    server = Dovecot().start()
    try:
        yield server
    finally:
        if os.environ.get("OPTOUT_KEEP_DOVECOT_LOG"):
            print(server.log())
        server.close()
