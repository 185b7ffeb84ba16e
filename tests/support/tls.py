"""A throwaway private CA and a server certificate for 127.0.0.1 (openssl), and TLS on a test
PostgreSQL server, so clients are tested with sslmode=verify-full as in production."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from tests.support.pgcluster import PgCluster


@dataclass(frozen=True)
class ServerCert:
    ca: Path
    cert: Path
    key: Path


def make_server_cert(directory: Path, host: str = "127.0.0.1") -> ServerCert:
    """A CA (ca.crt) and a server certificate for `host` (an IP address SAN) signed by it."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=clickstream test CA",
            "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}", "-keyout", "server.key",
            "-out", "server.csr")
    (directory / "san.ext").write_text(f"subjectAltName=IP:{host}\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.crt")
    return ServerCert(directory / "ca.crt", directory / "server.crt", directory / "server.key")


def enable_tls(cluster: PgCluster, cert: ServerCert) -> None:
    """Turns TLS on for `cluster` (a server this process started) with `cert`, by a reload."""
    assert cluster.datadir is not None, "TLS can only be turned on for a server the tests started"
    for source, name in ((cert.cert, "server.crt"), (cert.key, "server.key")):
        target = cluster.datadir / name
        shutil.copyfile(source, target)
        target.chmod(0o600)
        if cluster._run_as:
            user = pwd.getpwnam(cluster._run_as)
            os.chown(target, user.pw_uid, user.pw_gid)
    with contextlib.closing(psycopg2.connect(cluster.dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM SET ssl = on")
            cur.execute("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 20
    while True:
        with contextlib.closing(psycopg2.connect(cluster.dsn)) as conn, conn.cursor() as cur:
            cur.execute("SHOW ssl")
            if cur.fetchone()[0] == "on":
                return
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not turn TLS on")
        time.sleep(0.2)
