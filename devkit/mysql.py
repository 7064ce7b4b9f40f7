"""A real MySQL-compatible server for the tests: the one configured, or one we start.

Order: TEST_DB_HOST/TEST_DB_PORT (default 127.0.0.1:3306, root, no password);
if nothing answers there, a private MariaDB started from the installed
`mariadbd` in a temporary directory; if there is none, a message that says
exactly what to install.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import pymysql

MISSING = (
    "The tests need a MySQL-compatible server. None answered at {where}, and no MariaDB server is installed "
    "to start one. Install it (Debian: apt-get install mariadb-server) or point TEST_DB_HOST, TEST_DB_PORT, "
    "TEST_DB_USER and TEST_DB_PASSWORD at a running server."
)


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=database,
            autocommit=True,
            charset="utf8mb4",
        )


class Private:
    """A throwaway MariaDB in its own directory, on a free port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="relink-mariadb-"))
        self.process: subprocess.Popen[str] | None = None
        self.port = 0
        self._daemon: str | None = None

    def start(self) -> Server | None:
        self._daemon = _find("mariadbd", "mysqld")
        install = _find("mariadb-install-db", "mysql_install_db")
        if not self._daemon or not install:
            return None
        subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.dir / 'data'}",
                "--auth-root-authentication-method=normal",
                *self._as_root(),
            ],
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        return self.launch()

    @staticmethod
    def _as_root() -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def launch(self) -> Server:
        """Start (or restart) the server on its data and port; returns once it accepts connections."""
        assert self._daemon is not None
        self.process = subprocess.Popen(
            [
                self._daemon,
                "--no-defaults",
                f"--datadir={self.dir / 'data'}",
                f"--socket={self.dir / 'mysqld.sock'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-grant-tables",
                "--skip-log-bin",
                *self._as_root(),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        # The server says when it accepts connections; read until then, no polling.
        stderr = self.process.stderr
        assert stderr is not None
        for line in stderr:
            if "ready for connections" in line:
                # Keep draining its log, or a full pipe would one day freeze the server.
                threading.Thread(target=stderr.read, daemon=True).start()
                return Server("127.0.0.1", self.port, "root", "")
        raise RuntimeError(f"the private MariaDB in {self.dir} exited before it was ready")

    def halt(self) -> None:
        """Shut the server down, keeping its data (a restart is `launch`)."""
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=60)
            self.process = None

    def stop(self) -> None:
        self.halt()
        shutil.rmtree(self.dir, ignore_errors=True)


def _find(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name) or next(
            (str(p) for d in ("/usr/sbin", "/usr/bin", "/usr/local/bin") if (p := Path(d) / name).exists()), None
        )
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def configured() -> Server:
    return Server(
        os.environ.get("TEST_DB_HOST", "127.0.0.1"),
        int(os.environ.get("TEST_DB_PORT", "3306")),
        os.environ.get("TEST_DB_USER", "root"),
        os.environ.get("TEST_DB_PASSWORD", ""),
    )


def answers(server: Server) -> bool:
    try:
        server.connect().close()
    except pymysql.err.OperationalError:
        return False
    return True


def find_or_start() -> tuple[Server, Private | None]:
    """The configured server if it answers, else a private one; the caller stops the private one."""
    server = configured()
    if answers(server):
        return server, None
    private = Private()
    started = private.start()
    if started is None:
        raise SystemExit(MISSING.format(where=f"{server.host}:{server.port}"))
    return started, private
