#!/usr/bin/python3
"""Dump the warehouse with pg_dump (custom format) and upload it to S3.

Run by clickstream-dw-backup.service as postgres (peer authentication on the local socket).
Settings come from the environment the unit sets: PGHOST, PGPORT, PGDATABASE, BACKUP_BUCKET,
BACKUP_PREFIX, AWS_REGION and, for emulators only, AWS_ENDPOINT_URL. Credentials are the
instance profile's. The object key is <prefix><host>/<database>-<UTC timestamp>.dump.
"""

import datetime
import os
import socket
import subprocess
import sys
import tempfile

import boto3


def required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        sys.exit(f"clickstream-dw-backup: environment variable {name} is not set")
    return value


def main() -> int:
    bucket = required("BACKUP_BUCKET")
    database = required("PGDATABASE")
    prefix = os.environ.get("BACKUP_PREFIX", "backups/")
    pg_dump = os.environ.get("PG_DUMP", "pg_dump")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    key = f"{prefix}{socket.gethostname()}/{database}-{stamp}.dump"

    with tempfile.NamedTemporaryFile(prefix="dw-backup-", suffix=".dump") as dump:
        subprocess.run([pg_dump, "--format=custom", "--file", dump.name, database], check=True)
        s3 = boto3.client(
            "s3",
            region_name=os.environ.get("AWS_REGION"),
            endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None,
        )
        s3.upload_file(dump.name, bucket, key, ExtraArgs={"ServerSideEncryption": "AES256"})
        size = os.path.getsize(dump.name)
    print(f"uploaded {size} bytes to s3://{bucket}/{key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
