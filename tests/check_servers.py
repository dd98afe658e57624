"""Real servers for the check tests, on 127.0.0.1 and started by the tests: PostgreSQL, an HTTP
server that wants credentials, and the system binaries the checks plug into."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PASSWORD = "Sw0rdfish-not-shown"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def system_binary(name: str, package: str, *, where: str = "") -> str:
    """The path of a system binary; outside CI a test without it is skipped with the reason, under
    CI=true it fails (.ci/run installs it)."""
    found = sorted(Path(where).glob(name)) if where else []
    path = str(found[-1]) if found else shutil.which(Path(name).name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{Path(name).name} (Debian package {package}) is missing under CI")
        pytest.skip(f"{Path(name).name} is not installed (Debian package {package})")
    return path


@contextmanager
def postgres_server() -> Iterator[int]:
    """A throwaway PostgreSQL server on 127.0.0.1 with password authentication, autovacuum off
    (row estimates move only when a test says so) and pg_stat_statements loaded; yields its port.
    """
    initdb = system_binary("*/bin/initdb", "postgresql", where="/usr/lib/postgresql")
    pg_ctl = system_binary("*/bin/pg_ctl", "postgresql", where="/usr/lib/postgresql")
    base = Path(tempfile.mkdtemp(prefix="capplan-pg-"))
    user = "nobody" if os.geteuid() == 0 else None  # initdb refuses to run as root
    (base / "pw").write_text(PASSWORD + "\n", encoding="utf-8")
    if user is not None:
        shutil.chown(base, user)
        shutil.chown(base / "pw", user)
    data, port = base / "data", free_port()
    quiet: dict[str, Any] = {
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.PIPE,
        "check": True,
        "user": user,
    }
    subprocess.run(
        [
            initdb,
            "-D",
            str(data),
            "-U",
            "capplan",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={base / 'pw'}",
        ],
        **quiet,
    )
    settings = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c autovacuum=off "
        "-c shared_preload_libraries=pg_stat_statements"
    )
    subprocess.run(
        [pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-o", settings, "start"], **quiet
    )
    try:
        yield port
    finally:
        subprocess.run([pg_ctl, "-D", str(data), "-m", "immediate", "stop"], **quiet)
        shutil.rmtree(base, ignore_errors=True)


def admin_url(port: int, database: str = "postgres") -> str:
    return f"postgresql://capplan:{PASSWORD}@127.0.0.1:{port}/{database}"


# --- HTTP -------------------------------------------------------------------------------------

USER, HTTP_PASSWORD, TOKEN = "bob", "b4sic-Secret@#", "t0ken-Secret-value"


class Guarded(BaseHTTPRequestHandler):
    """200 for /open; /basic wants bob's password, /token the bearer token; /slow answers after
    0.3 s; /flaky hangs for 2 s on every fifth request; /broken is a 500."""

    requests: dict[str, int] = {}  # noqa: RUF012 - counted across requests, on purpose

    def do_GET(self) -> None:
        import time

        seen = Guarded.requests[self.path] = Guarded.requests.get(self.path, 0) + 1
        sent = self.headers.get("Authorization", "")
        basic = "Basic " + base64.b64encode(f"{USER}:{HTTP_PASSWORD}".encode()).decode()
        status = 200
        if (self.path.startswith("/basic") and sent != basic) or (
            self.path.startswith("/token") and sent != f"Bearer {TOKEN}"
        ):
            status = 401
        elif self.path == "/slow":
            time.sleep(0.3)
        elif self.path == "/flaky" and seen % 5 == 0:
            time.sleep(2)
        elif self.path == "/broken":
            status = 500
        body = b"ok"
        try:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (a timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on 127.0.0.1 answering with `handler`, and its URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def http_server() -> Iterator[str]:
    Guarded.requests.clear()
    with serving(Guarded) as url:
        yield url


@contextmanager
def as_nobody(folder: Path) -> Iterator[None]:
    """This process in `folder`, as nobody while it runs as root (root reads and writes
    anywhere), else as its own user; its user and folder again afterwards. Import what the code
    under test needs first: the interpreter's own files may be out of nobody's reach."""
    import pwd

    nobody = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
    cwd = Path.cwd()
    os.chdir(folder)
    if nobody is not None:
        os.setegid(nobody.pw_gid)
        os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        if nobody is not None:
            os.seteuid(0)
            os.setegid(0)
        os.chdir(cwd)
