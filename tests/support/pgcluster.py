"""A real, throwaway PostgreSQL server for tests and benchmarks.

`PgCluster.start()` runs initdb in a temp dir, starts the server on a free port on 127.0.0.1
(as an unprivileged user when the caller is root: PostgreSQL refuses to run as root) and
`stop()` removes it again. Password (scram-sha-256) authentication is on, as on the real
warehouse host, so login roles and their passwords behave as they do in production.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import make_dsn, parse_dsn

from tests.support.net import free_port

UNPRIVILEGED_USER = "nobody"


def pg_bindir() -> Path:
    """The newest installed PostgreSQL server's bin dir (Debian keeps them versioned)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise RuntimeError("no PostgreSQL server found: install the 'postgresql' package (make bootstrap does)")


@dataclass
class PgCluster:
    """A PostgreSQL server owned by this process; `dsn` is its superuser's."""

    dsn: str
    datadir: Path | None = None
    _run_as: str | None = None
    _tmp: Path | None = None
    _databases: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PgCluster:
        bindir = pg_bindir()
        tmp = Path(tempfile.mkdtemp(prefix="pgtest-"))
        run_as = UNPRIVILEGED_USER if os.geteuid() == 0 else None
        datadir, pwfile = tmp / "data", tmp / "pwfile"
        password = secrets.token_urlsafe(18)
        pwfile.write_text(password + "\n")
        if run_as:
            pw = pwd.getpwnam(run_as)
            os.chown(tmp, pw.pw_uid, pw.pw_gid)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        tmp.chmod(0o700)
        port = free_port()
        _run(
            [str(bindir / "initdb"), "-D", str(datadir), "-U", "postgres", "--pwfile", str(pwfile),
             "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync"],
            run_as,
        )
        pwfile.unlink()
        # Fast and disposable: no fsync; logs in the temp dir for a failing test to read.
        opts = (f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={tmp} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=100 -c shared_buffers=128MB")
        _run([str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(tmp / "server.log"),
              "-o", opts, "-w", "-t", "60", "start"], run_as)
        dsn = make_dsn(host="127.0.0.1", port=port, user="postgres", password=password, dbname="postgres")
        cluster = cls(dsn=dsn, datadir=datadir, _run_as=run_as, _tmp=tmp)
        cluster.wait_ready()
        return cluster

    @classmethod
    def existing(cls, dsn: str) -> PgCluster:
        """Use a server the caller runs (DWH_TEST_DSN); only the databases made here are dropped."""
        cluster = cls(dsn=dsn)
        cluster.wait_ready()
        return cluster

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg2.connect(self.dsn, connect_timeout=3).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def create_database(self, name: str | None = None) -> str:
        """A fresh empty database; returns its DSN (same superuser)."""
        name = name or f"test_{secrets.token_hex(6)}"
        with contextlib.closing(psycopg2.connect(self.dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        self._databases.append(name)
        return self.dsn_for(name)

    def keep_database(self, name: str) -> None:
        """Leave a database made here in place when the cluster stops (an external server only)."""
        self._databases.remove(name)

    def drop_database(self, name: str) -> None:
        with contextlib.closing(psycopg2.connect(self.dsn)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if name in self._databases:
            self._databases.remove(name)

    def dsn_for(self, dbname: str, **overrides: str) -> str:
        params = parse_dsn(self.dsn)
        params.update(dbname=dbname, **overrides)
        return make_dsn(**params)

    @property
    def params(self) -> dict[str, str]:
        return parse_dsn(self.dsn)

    def stop(self) -> None:
        if self.datadir is None:  # an external server: drop only what we made
            for name in list(self._databases):
                with contextlib.suppress(psycopg2.Error):
                    self.drop_database(name)
            return
        _run([str(pg_bindir() / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop"],
             self._run_as, check=False)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _run(cmd: list[str], run_as: str | None, check: bool = True) -> None:
    proc = subprocess.run(cmd, user=run_as, capture_output=True, text=True, cwd="/", check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr or proc.stdout}")


def cluster_from_env() -> PgCluster:
    """DWH_TEST_DSN (a superuser DSN) when set, else a throwaway local server."""
    dsn = os.environ.get("DWH_TEST_DSN")
    return PgCluster.existing(dsn) if dsn else PgCluster.start()
