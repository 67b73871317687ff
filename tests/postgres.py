"""A real PostgreSQL server for the tests: Debian's postgresql, a throwaway cluster on loopback.

PostgreSQL refuses to run as root, so when the tests run as root (CI does) the
cluster belongs to the ``postgres`` system user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def available() -> bool:
    return bool(_bin("initdb") and _bin("pg_ctl"))


@contextmanager
def postgres_server():
    """Yields a SQLAlchemy URL to a fresh, empty PostgreSQL database; stops and deletes it after."""
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = tempfile.mkdtemp(prefix="tenor-pg-")
    if as_user:
        shutil.chown(root, "postgres")
    data = os.path.join(root, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    user = "postgres" if as_user else os.environ.get("USER", "postgres")
    subprocess.run([*as_user, _bin("initdb"), "-D", data, "-A", "trust", "-U", user], check=True,
                   capture_output=True)
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, _bin("pg_ctl"), "-D", data, "-o", options, "-w", "-l", os.path.join(root, "log"),
                    "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, _bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"], capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(root, ignore_errors=True)
