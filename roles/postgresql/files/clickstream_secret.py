#!/usr/bin/python3
"""Puts a database password from SSM Parameter Store where this host needs it, reading it here.

Installed as /usr/local/sbin/clickstream-secret by roles/postgresql and roles/shiny_server, and
run by their tasks, which pass only the parameter's name: the password itself never travels
through Ansible's connection (no module argument, no rendered template, no command line), is
never printed and never written to a log.

    clickstream-secret set-password --parameter NAME --login ROLE [--port N] [--socket-dir DIR]
        As postgres (peer authentication on the local socket): give login ROLE the password in
        NAME. The SCRAM-SHA-256 verifier is computed here, so the server receives the verifier,
        not the password; with the session's statement logging off. Nothing is written when the
        stored verifier already belongs to that password.

    clickstream-secret write-config --parameter NAME --dest PATH --owner USER [--mode 0400]
                                    [--field key=value ...] [--secret-field password]
        As root: write PATH as "key: value" lines (the fields, then the secret's field), owned by
        USER with MODE, replacing it atomically, only when its content, owner or mode differ.

Both take --region and, for emulators only (the demo's and the tests' moto), --endpoint-url;
with an endpoint and no AWS_ACCESS_KEY_ID in the environment they sign with placeholder
credentials, else the instance profile's are used. --check reports what would change and
changes nothing. The one line printed starts with "changed:" or "unchanged:"; errors name the
parameter, never its value (exit 1).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import pwd
import secrets
import stringprep
import sys
import tempfile
import unicodedata

NAME = "clickstream-secret"
# What a database password must be (the roles' preflights said the same before the hosts read them).
MIN_LENGTH = 16
# PostgreSQL's defaults for a verifier it computes itself (scram_iterations, 16 bytes of salt).
SCRAM_ITERATIONS = 4096
SCRAM_SALT_BYTES = 16


class Failure(Exception):
    """What went wrong, in words that never include the secret."""


# --- reading the parameter -------------------------------------------------------------------


def read_parameter(name: str, region: str, endpoint_url: str | None) -> str:
    """The decrypted value of SecureString (or String) parameter `name`."""
    import boto3  # noqa: PLC0415 -- python3-boto3 on the host; not needed for --help
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    kwargs = {}
    if endpoint_url and not os.environ.get("AWS_ACCESS_KEY_ID"):
        # An emulator accepts any signature; these only keep botocore from looking for keys.
        kwargs = {"aws_access_key_id": "emulator", "aws_secret_access_key": "emulator"}
    config = Config(connect_timeout=10, read_timeout=20, retries={"max_attempts": 5, "mode": "standard"})
    try:
        ssm = boto3.client("ssm", region_name=region, endpoint_url=endpoint_url or None, config=config,
                           **kwargs)
        return ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ParameterNotFound":
            raise Failure(f"SSM parameter {name} does not exist in {region} "
                          "(`python -m stacks deploy` creates the database passwords)") from None
        if "AccessDenied" in code:
            raise Failure(f"this host may not read SSM parameter {name} ({code}): each host's role reads "
                          "only the parameters under its own /clickstream/<env>/<role>/") from None
        raise Failure(f"reading SSM parameter {name} failed: {code or exc}") from None
    except BotoCoreError as exc:
        raise Failure(f"reading SSM parameter {name} failed: {type(exc).__name__}: {exc}") from None


def check_value(name: str, value: str, min_length: int) -> str:
    if len(value) < min_length or any(c in value for c in "\r\n\0") or value != value.strip():
        raise Failure(f"the value of SSM parameter {name} must be at least {min_length} characters, on one "
                      "line, without leading or trailing spaces (it is not shown)")
    return value


def secret(args: argparse.Namespace) -> str:
    return check_value(args.parameter, read_parameter(args.parameter, args.region, args.endpoint_url),
                       args.min_length)


# --- SCRAM-SHA-256 verifiers as PostgreSQL stores them ---------------------------------------


def saslprep(password: str) -> str:
    """RFC 4013 SASLprep as PostgreSQL applies it to a password (pg_saslprep): ASCII as it is;
    a password that is not valid for SASLprep is used as it is, too."""
    if password.isascii():
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else c
                     for c in password if not stringprep.in_table_b1(c))
    prepared = unicodedata.normalize("NFKC", mapped)
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
                  stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
                  stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
                  stringprep.in_table_c9, stringprep.in_table_a1)
    if not prepared or any(check(c) for c in prepared for check in prohibited):
        return password
    if any(stringprep.in_table_d1(c) for c in prepared) and (
        any(stringprep.in_table_d2(c) for c in prepared)
        or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1]))
    ):
        return password
    return prepared


def scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = SCRAM_ITERATIONS) -> str:
    """SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, as pg_authid.rolpassword holds it."""
    salt = salt if salt is not None else secrets.token_bytes(SCRAM_SALT_BYTES)
    stored, server = scram_keys(password, salt, iterations)
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored).decode()}:{b64(server).decode()}"


def verifier_matches(stored: str | None, password: str) -> bool:
    """Whether `stored` (a rolpassword) is a SCRAM verifier of `password`; an MD5 hash or none is not."""
    try:
        method, rest = (stored or "").split("$", 1)
        params, keys = rest.split("$", 1)
        iterations, salt = params.split(":", 1)
        stored_key, server_key = keys.split(":", 1)
        if method != "SCRAM-SHA-256":
            return False
        expected = scram_keys(password, base64.b64decode(salt, validate=True), int(iterations))
        actual = (base64.b64decode(stored_key, validate=True), base64.b64decode(server_key, validate=True))
    except ValueError:
        return False
    return all(hmac.compare_digest(a, b) for a, b in zip(expected, actual, strict=True))


# --- the two commands ------------------------------------------------------------------------


def set_password(args: argparse.Namespace) -> str:
    import psycopg2  # noqa: PLC0415 -- python3-psycopg2 on the database hosts only
    from psycopg2 import sql  # noqa: PLC0415

    password = secret(args)
    try:
        conn = psycopg2.connect(host=args.socket_dir, port=args.port, dbname="postgres", connect_timeout=10,
                                application_name=NAME)
    except psycopg2.Error as exc:
        where = f"{args.socket_dir}:{args.port}"
        raise Failure(f"cannot connect to PostgreSQL on {where}: {str(exc).strip()}") from None
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            # Whatever the server's settings, this session's statements are never logged: the
            # verifier below is not the password, but it is not for the log either.
            for setting in ("log_statement TO 'none'", "log_min_duration_statement TO -1",
                            "log_min_error_statement TO 'panic'", "log_duration TO off"):
                cur.execute(f"SET {setting}")
            cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (args.login,))
            row = cur.fetchone()
            if row is None:
                if args.check:
                    return (f"changed: {args.login} does not exist yet; its password would be set "
                            f"from {args.parameter}")
                raise Failure(f"login {args.login} does not exist")
            if verifier_matches(row[0], password):
                return f"unchanged: the password of {args.login} is the one in {args.parameter}"
            if not args.check:
                cur.execute(sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(args.login)),
                            (scram_verifier(password),))
            return f"changed: the password of {args.login} set from {args.parameter}"
    except psycopg2.Error as exc:
        raise Failure(f"setting the password of {args.login} failed: {exc.pgerror or exc}".strip()) from None
    finally:
        conn.close()


def write_config(args: argparse.Namespace) -> str:
    fields = []
    for field in args.field:
        key, sep, value = field.partition("=")
        if not sep or not key.replace("_", "").isalnum() or "\n" in value:
            raise Failure(f"--field {key!r}: must be key=value on one line")
        fields.append((key, value))
    if any(key == args.secret_field for key, _ in fields):
        raise Failure(f"--field {args.secret_field} is the secret's own field")
    fields.append((args.secret_field, secret(args)))
    header = (f"# Written by {NAME} on this host from SSM parameter {args.parameter}; "
              f"readable by {args.owner} only.\n")
    content = (header + "".join(f"{key}: {value}\n" for key, value in fields)).encode("utf-8")
    try:
        owner = pwd.getpwnam(args.owner)
    except KeyError:
        raise Failure(f"user {args.owner} does not exist") from None
    mode = int(args.mode, 8)
    try:
        st = os.stat(args.dest)
        with open(args.dest, "rb") as current:
            same = (current.read() == content and st.st_uid == owner.pw_uid and st.st_gid == owner.pw_gid
                    and st.st_mode & 0o7777 == mode)
    except FileNotFoundError:
        same = False
    if same:
        return f"unchanged: {args.dest} holds the value of {args.parameter}"
    if not args.check:
        directory = os.path.dirname(os.path.abspath(args.dest))
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(args.dest)}.", dir=directory)
        try:
            os.fchmod(fd, mode)
            os.fchown(fd, owner.pw_uid, owner.pw_gid)
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, args.dest)
        except BaseException:
            os.unlink(tmp)
            raise
    return f"changed: {args.dest} written with the value of {args.parameter}"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=NAME, description=__doc__.split("\n\n", 1)[0])
    commands = top.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--parameter", required=True, help="SSM parameter holding the password")
    common.add_argument("--region", required=True)
    common.add_argument("--endpoint-url", default="", help="an emulator's URL; empty for AWS")
    common.add_argument("--min-length", type=int, default=MIN_LENGTH)
    common.add_argument("--check", action="store_true", help="report what would change, change nothing")
    login = commands.add_parser("set-password", parents=[common], help="set a login's password")
    login.add_argument("--login", required=True)
    login.add_argument("--port", type=int, default=5432)
    login.add_argument("--socket-dir", default="/var/run/postgresql")
    config = commands.add_parser("write-config", parents=[common], help="write a settings file holding it")
    config.add_argument("--dest", required=True)
    config.add_argument("--owner", required=True)
    config.add_argument("--mode", default="0400")
    config.add_argument("--field", action="append", default=[], metavar="KEY=VALUE")
    config.add_argument("--secret-field", default="password")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(set_password(args) if args.command == "set-password" else write_config(args))
    except Failure as exc:
        print(f"{NAME}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
