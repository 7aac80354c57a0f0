"""A PostgreSQL server of its own for a test or a benchmark: Debian's `postgresql` (installed by
`make system-tools`), a cluster made by initdb in a temporary folder, listening only on a unix
socket in that folder (no TCP port, so nothing else on the machine can reach it or clash with
it), and stopped and removed at the end whatever happens.

initdb refuses to run as root, so as root the server runs as the `postgres` account that
Debian's package creates; the folder belongs to it (mode 0700: no other account can reach the
socket, root's clients can). As any other user it runs as that user.

    with postgres_server.running() as server:
        url = server.database("gradebook")  # postgresql+psycopg2://postgres@/gradebook?host=...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = "postgres"  # Debian's package makes it; the server runs as it when we are root


def bin_dir() -> Path | None:
    """The newest installed server's programs (Debian keeps them out of PATH), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def missing() -> str | None:
    """Why no server can be started here (for a skip), or None."""
    if bin_dir() is None:
        return "PostgreSQL is not installed (make system-tools installs Debian's postgresql)"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "no PostgreSQL driver: psycopg2-binary (pip install -e '.[grader]')"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(ACCOUNT)
        except KeyError:
            return f"no {ACCOUNT} account to run the server as (initdb refuses root)"
    return None


@dataclass
class Server:
    folder: Path  # the socket's folder (the data is in folder/data)
    user: str  # the database superuser, the account the server runs as

    def url(self, database: str) -> str:
        """SQLAlchemy's URL of a database on this server, over its unix socket."""
        return f"postgresql+psycopg2://{self.user}@/{database}?host={self.folder}"

    def database(self, name: str) -> str:
        """A new, empty database: its URL."""
        import psycopg2

        connection = psycopg2.connect(dbname="postgres", user=self.user, host=str(self.folder))
        try:
            connection.autocommit = True  # CREATE DATABASE runs outside a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return self.url(name)


@contextlib.contextmanager
def running() -> Iterator[Server]:
    """A fresh server for the time of the `with`; stopped and its folder removed after."""
    problem = missing()
    if problem:
        raise RuntimeError(problem)
    programs = bin_dir()
    as_root = os.geteuid() == 0
    account = ACCOUNT if as_root else None
    user = ACCOUNT if as_root else _me()
    folder = Path(tempfile.mkdtemp(prefix="postgres-"))
    data = folder / "data"
    try:
        if as_root:
            shutil.chown(folder, ACCOUNT, ACCOUNT)
        _run([programs / "initdb", "-D", data, "-U", user, "-A", "trust", "-E", "UTF8",
              "--no-sync", "--no-instructions"], account)
        _run([programs / "pg_ctl", "-D", data, "-l", folder / "server.log", "-w", "-s",
              "-o", f"-k {folder} -c listen_addresses=''", "start"], account)
        try:
            yield Server(folder, user)
        finally:
            _run([programs / "pg_ctl", "-D", data, "-m", "fast", "-w", "-s", "stop"], account)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(command: list, account: str | None) -> None:
    done = subprocess.run([str(part) for part in command], user=account, group=account,
                          capture_output=True, text=True, cwd="/")
    if done.returncode:
        raise RuntimeError(f"{Path(str(command[0])).name} failed ({done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name
