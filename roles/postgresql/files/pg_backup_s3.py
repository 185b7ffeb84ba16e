#!/usr/bin/python3
"""A database's pg_dump to S3, and its restore from there into another database.

Installed by roles/postgresql as /usr/local/sbin/<unit name> (clickstream-dw-backup on the
warehouse, clickstream-oltp-backup on the shop's host) and run as postgres (peer authentication
on the local socket):

    <name>                       dump PGDATABASE (custom format) and upload it (what the timer runs)
    <name> restore --into DB     restore the newest dump of PGDATABASE (or --key KEY) into DB, a
                                 new database, then print each table's row count in DB and in
                                 PGDATABASE side by side

Settings come from the environment, else from /etc/default/<name> (which the unit reads too):
PGHOST, PGPORT, PGDATABASE, BACKUP_BUCKET, BACKUP_PREFIX, AWS_REGION, PG_BIN (the server's
binaries) and, for emulators only, AWS_ENDPOINT_URL. Credentials are the instance profile's.
The object key is <prefix><host>/<database>-<UTC timestamp>.dump.
"""

import argparse
import datetime
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3

NAME = Path(sys.argv[0]).name
SETTINGS = ("PGHOST", "PGPORT", "PGDATABASE", "BACKUP_BUCKET", "BACKUP_PREFIX", "AWS_REGION",
            "AWS_ENDPOINT_URL", "PG_BIN")
# Exact row counts of every table outside the system schemas, one "schema.table count" a line.
COUNT_ROWS = """
SELECT format('%I.%I', table_schema, table_name) || ' ' ||
       (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I',
                                                   table_schema, table_name), false, true, '')))[1]::text
  FROM information_schema.tables
 WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
 ORDER BY 1
"""


def load_settings() -> None:
    """Fill the settings the environment lacks from /etc/default/<name> (KEY=value lines)."""
    defaults = Path("/etc/default") / NAME
    if not defaults.exists():
        return
    for line in defaults.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in SETTINGS and not os.environ.get(key):
            os.environ[key] = value


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"{NAME}: {name} is not set (environment or /etc/default/{NAME})")
    return value


def s3_client():
    return boto3.client("s3", region_name=os.environ.get("AWS_REGION"),
                        endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)


def host_prefix(database: str) -> str:
    return f"{os.environ.get('BACKUP_PREFIX', 'backups/')}{socket.gethostname()}/{database}-"


def pg(tool: str) -> str:
    return str(Path(os.environ.get("PG_BIN", "/usr/bin")) / tool)


def backup() -> int:
    bucket, database = required("BACKUP_BUCKET"), required("PGDATABASE")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    key = f"{host_prefix(database)}{stamp}.dump"
    with tempfile.NamedTemporaryFile(prefix="pg-backup-", suffix=".dump") as dump:
        subprocess.run([pg("pg_dump"), "--format=custom", "--file", dump.name, database], check=True)
        s3_client().upload_file(dump.name, bucket, key, ExtraArgs={"ServerSideEncryption": "AES256"})
        size = os.path.getsize(dump.name)
    print(f"uploaded {size} bytes to s3://{bucket}/{key}")
    return 0


def newest_dump(s3, bucket: str, database: str) -> str:
    prefix = host_prefix(database)
    keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", []) if obj["Key"].endswith(".dump")]
    if not keys:
        sys.exit(f"{NAME}: no dump under s3://{bucket}/{prefix}")
    return max(keys)        # the UTC timestamps sort as text


def row_counts(database: str) -> dict[str, int]:
    out = subprocess.run([pg("psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", COUNT_ROWS],
                         check=True, capture_output=True, text=True).stdout
    return {table: int(n) for table, n in (line.rsplit(" ", 1) for line in out.splitlines())}


def restore(into: str, key: str | None) -> int:
    bucket, database = required("BACKUP_BUCKET"), required("PGDATABASE")
    if into == database:
        sys.exit(f"{NAME}: restore into a new database, not into {database} itself")
    s3 = s3_client()
    key = key or newest_dump(s3, bucket, database)
    with tempfile.NamedTemporaryFile(prefix="pg-restore-", suffix=".dump") as dump:
        s3.download_file(bucket, key, dump.name)
        # createdb fails if `into` exists: a restore never overwrites a database.
        subprocess.run([pg("createdb"), "--template=template0", "--encoding=UTF8", into], check=True)
        subprocess.run([pg("pg_restore"), "--exit-on-error", "--single-transaction", "--dbname", into,
                        dump.name], check=True)
    print(f"restored s3://{bucket}/{key} into {into}")
    restored, live = row_counts(into), row_counts(database)
    print(f"{'table':40} {into:>16} {database:>16}")
    for table in sorted(restored.keys() | live.keys()):
        print(f"{table:40} {restored.get(table, '-'):>16} {live.get(table, '-'):>16}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog=NAME, description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command")
    restoring = commands.add_parser("restore", help="restore a dump into a new database")
    restoring.add_argument("--into", required=True, help="the new database to restore into")
    restoring.add_argument("--key", help="the dump's object key (default: the newest of this host)")
    args = parser.parse_args()
    load_settings()
    return restore(args.into, args.key) if args.command == "restore" else backup()


if __name__ == "__main__":
    sys.exit(main())
