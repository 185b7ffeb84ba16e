"""The hosts read their own database passwords: no password is a module argument or part of a
rendered template that Ansible's connection carries.

- The tool the roles install (roles/postgresql/files/clickstream_secret.py, on the hosts as
  /usr/local/sbin/clickstream-secret): its SCRAM-SHA-256 verifiers are PostgreSQL's own, it sets
  a login's password from an SSM SecureString (moto's Parameter Store, the real API) only when
  the stored verifier is another's, and writes the dashboards' settings file once; its errors
  name the parameter, never the value.
- The roles' own password tasks (roles/postgresql tasks/databases.yml, roles/shiny_server
  tasks/db_config.yml), run by ansible-playbook -vvv on the controller against a throwaway
  PostgreSQL server and moto, through a connection that records what it carries
  (plugins/connection/recording.py: the local one, keeping each file put and each command):
  every module's arguments (each AnsiballZ payload exploded), every file, every command and
  everything Ansible prints are searched for the passwords, which must be in none; the same scan
  finds a password passed the old way. A second run changes nothing; a new value in the
  parameter changes one login.
- Statically: no task, template or argument spec of a role names a password variable (only
  `*_password_parameter`), and the parameter names the roles default to are the stacks' names,
  under the path the reading host's IAM role is scoped to.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import pwd
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import boto3
import jinja2
import psycopg2
import pytest
import yaml
from psycopg2 import sql

from stacks.params import dw_password_parameter_name, host_parameter_path, oltp_password_parameter_name
from tests.support.moto import running_moto
from tests.support.pgcluster import PgCluster

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
TOOL = ROLES / "postgresql" / "files" / "clickstream_secret.py"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))
REGION = "ap-southeast-1"
ENV = "test"
WRITER, READER = "etl_writer", "dashboard_reader"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("clickstream_secret", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = load_tool()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with running_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def ssm(moto_endpoint: str):
    return boto3.client("ssm", endpoint_url=moto_endpoint, region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    server = PgCluster.start()
    try:
        yield server
    finally:
        server.stop()


def superuser(cluster: PgCluster) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(cluster.dsn)
    conn.autocommit = True
    return conn


def stored_password(cluster: PgCluster, login: str) -> str | None:
    with contextlib.closing(superuser(cluster)) as conn, conn.cursor() as cur:
        cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (login,))
        return cur.fetchone()[0]


def can_log_in(cluster: PgCluster, login: str, password: str) -> bool:
    try:
        dsn = cluster.dsn_for("postgres", user=login, password=password)
        psycopg2.connect(dsn, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        assert "password authentication failed" in str(exc)
        return False
    return True


def fresh_login(cluster: PgCluster, login: str) -> None:
    with contextlib.closing(superuser(cluster)) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
        cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(login)))


def socket_dir(cluster: PgCluster) -> str:
    return str(cluster.datadir.parent)  # PgCluster's unix_socket_directories


def password() -> str:
    """A password no file of the repository or of Ansible could hold by chance."""
    return f"Pw-{secrets.token_urlsafe(24)}"


# --- the tool ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("pw", ["plain-ascii-password-0001", "naïve-ﬁle-Ⅻ-pässwörd-0002"])
def test_verifiers_are_postgresql_s_own(cluster: PgCluster, pw: str) -> None:
    """What PostgreSQL stores for a password matches it (SASLprep included: ﬁ and Ⅻ fold under
    NFKC), and a verifier made by the tool logs in; another password matches neither."""
    with contextlib.closing(superuser(cluster)) as conn, conn.cursor() as cur:
        cur.execute("DROP ROLE IF EXISTS verifier_check")
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute(sql.SQL("CREATE ROLE verifier_check LOGIN PASSWORD {}").format(sql.Literal(pw)))
    stored = stored_password(cluster, "verifier_check")
    assert tool.verifier_matches(stored, pw)
    assert not tool.verifier_matches(stored, pw + "x")
    assert not tool.verifier_matches("md5" + "0" * 32, pw)
    assert not tool.verifier_matches(None, pw)
    with contextlib.closing(superuser(cluster)) as conn, conn.cursor() as cur:
        verifier = sql.Literal(tool.scram_verifier(pw))
        cur.execute(sql.SQL("ALTER ROLE verifier_check PASSWORD {}").format(verifier))
    assert can_log_in(cluster, "verifier_check", pw)
    assert not can_log_in(cluster, "verifier_check", pw + "x")


def run_tool(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PG"))}
    return subprocess.run([sys.executable, str(TOOL), *args], env={**clean, **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
def test_set_password_sets_a_login_s_password_once_from_its_parameter(cluster: PgCluster, ssm,
                                                                        moto_endpoint: str) -> None:
    name = f"/clickstream/{ENV}/dw/tool_login/password"
    first, second = password(), password()
    ssm.put_parameter(Name=name, Value=first, Type="SecureString", Overwrite=True)
    fresh_login(cluster, "tool_login")
    params = cluster.params
    env = {"PGUSER": params["user"], "PGPASSWORD": params["password"]}
    args = ("set-password", "--login", "tool_login", "--parameter", name, "--region", REGION,
            "--endpoint-url", moto_endpoint, "--socket-dir", socket_dir(cluster), "--port", params["port"])
    checked = run_tool(*args, "--check", env=env)
    assert checked.returncode == 0
    assert checked.stdout == f"changed: the password of tool_login set from {name}\n"
    assert stored_password(cluster, "tool_login") is None  # --check changed nothing
    done = run_tool(*args, env=env)
    assert done.returncode == 0 and done.stdout.startswith("changed:"), done.stderr
    assert can_log_in(cluster, "tool_login", first)
    verifier = stored_password(cluster, "tool_login")
    again = run_tool(*args, env=env)
    assert again.stdout == f"unchanged: the password of tool_login is the one in {name}\n"
    assert stored_password(cluster, "tool_login") == verifier  # not even a new salt
    ssm.put_parameter(Name=name, Value=second, Type="SecureString", Overwrite=True)
    assert run_tool(*args, "--check", env=env).stdout.startswith("changed:")
    assert run_tool(*args, env=env).stdout.startswith("changed:")
    assert can_log_in(cluster, "tool_login", second) and not can_log_in(cluster, "tool_login", first)
    for out in (checked, done, again):
        assert first not in out.stdout + out.stderr
    # The server never saw the password: not in its log, with or without statement logging.
    assert first not in (cluster.datadir.parent / "server.log").read_text()


@pytest.mark.slow
def test_errors_name_the_parameter_and_never_the_value(cluster: PgCluster, ssm, moto_endpoint: str) -> None:
    short, spaced = "short-password", " leading-space-password"
    ssm.put_parameter(Name=f"/clickstream/{ENV}/dw/short/password", Value=short, Type="SecureString",
                      Overwrite=True)
    ssm.put_parameter(Name=f"/clickstream/{ENV}/dw/spaced/password", Value=spaced, Type="SecureString",
                      Overwrite=True)
    common = ("--region", REGION, "--endpoint-url", moto_endpoint)
    nothing = f"/clickstream/{ENV}/dw/nothing/password"
    missing = run_tool("set-password", "--login", "x", "--parameter", nothing, *common)
    assert missing.returncode == 1
    assert f"SSM parameter {nothing} does not exist in {REGION}" in missing.stderr
    for which, value in (("short", short), ("spaced", spaced)):
        done = run_tool("write-config", "--parameter", f"/clickstream/{ENV}/dw/{which}/password", "--dest",
                        "/nonexistent/x", "--owner", "nobody", *common)
        assert done.returncode == 1
        assert "must be at least 16 characters, on one line, without leading or trailing" in done.stderr
        assert value.strip() not in done.stdout + done.stderr


@pytest.mark.slow
def test_write_config_writes_the_settings_with_the_secret_for_its_owner_only(tmp_path: Path, ssm,
                                                                             moto_endpoint: str) -> None:
    name, value = f"/clickstream/{ENV}/dw/{READER}/password", password()
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    dest = tmp_path / "clickstream-dw.dcf"
    args = ("write-config", "--parameter", name, "--region", REGION, "--endpoint-url", moto_endpoint,
            "--dest", str(dest), "--owner", "nobody", "--field", "host=127.0.0.1", "--field", "port=5432")
    assert run_tool(*args, "--check").stdout.startswith("changed:")
    assert not dest.exists()
    assert run_tool(*args).stdout == f"changed: {dest} written with the value of {name}\n"
    lines = dest.read_text().splitlines()
    assert lines[1:] == ["host: 127.0.0.1", "port: 5432", f"password: {value}"]
    st = dest.stat()
    assert (st.st_mode & 0o7777, st.st_uid) == (0o400, pwd.getpwnam("nobody").pw_uid)
    assert run_tool(*args).stdout.startswith("unchanged:")
    dest.chmod(0o644)  # a mode changed by hand is put back
    assert run_tool(*args).stdout.startswith("changed:")
    assert dest.stat().st_mode & 0o7777 == 0o400
    assert [p.name for p in tmp_path.iterdir()] == [dest.name]  # no temporary file left


# --- the roles' tasks through Ansible's connection -----------------------------------------


def scan_for(secrets_: list[str], record: Path, output: str) -> dict[str, list[str]]:
    """Where any of `secrets_` shows up in what the connection carried (tests/ansible/plugins/
    connection/recording.py keeps it) or in what Ansible printed: each module payload's arguments
    (exploded as the payload's own `explode` does), each file put (templates, copies, the
    payloads themselves), each command run with its stdin. Also returns the module arguments
    read, under "args" (to see that the scan does read them)."""
    found: dict[str, list[str]] = {"leaks": [], "args": []}
    for payload in sorted(record.glob("put-*/AnsiballZ_*.py")):
        subprocess.run([sys.executable, payload.name, "explode"], cwd=payload.parent, capture_output=True,
                       check=True)
        args = (payload.parent / "debug_dir" / "args").read_text()
        found["args"].append(args)
        found["leaks"] += [f"module args of {payload.name}" for s in secrets_ if s in args]
    for path in sorted(record.glob("put-*/*")):
        if path.is_file():
            data = path.read_bytes()
            found["leaks"] += [f"file {path.name}" for s in secrets_ if s.encode() in data]
    commands = (record / "commands.log").read_bytes()
    found["leaks"] += ["a command run" for s in secrets_ if s.encode() in commands]
    found["leaks"] += ["ansible-playbook's output" for s in secrets_ if s in output]
    return found


@pytest.fixture(scope="module")
def play(tmp_path_factory: pytest.TempPathFactory, cluster: PgCluster, moto_endpoint: str):
    """Runs the roles' password tasks (tasks/databases.yml of roles/postgresql, tasks/db_config.yml
    of roles/shiny_server) on localhost, keeping what the connection put there."""
    top = tmp_path_factory.mktemp("host-secrets")
    wrapper = top / "clickstream-secret"  # the tool as the roles install it, on this venv's python
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {TOOL} \"$@\"\n")
    wrapper.chmod(0o755)
    params = cluster.params
    extra = {
        "ansible_python_interpreter": sys.executable,
        # The role's tasks become postgres on a host; here they run as this user, who reaches the
        # throwaway server with its superuser's password (the play's environment below).
        "ansible_become": False,
        "platform_env": ENV,
        "postgresql_users": [
            {"name": "shop_owner_like", "role_attr_flags": "NOLOGIN"},
            {"name": WRITER, "password_parameter": dw_password_parameter_name(ENV, WRITER)},
            {"name": READER, "password_parameter": dw_password_parameter_name(ENV, READER)},
        ],
        "postgresql_databases": [],
        "postgresql_socket_dir": socket_dir(cluster),
        "postgresql_port": int(params["port"]),
        "postgresql_secret_tool": str(wrapper),
        "postgresql_ssm_endpoint_url": moto_endpoint,
        "shiny_server_secret_tool": str(wrapper),
        "shiny_server_user": "nobody",
        "shiny_server_db_config_path": str(top / "clickstream-dw.dcf"),
        "shiny_server_ssm_endpoint_url": moto_endpoint,
    }
    (top / "vars.json").write_text(json.dumps(extra))

    def run(name: str, tasks: list[dict] | None = None) -> tuple[subprocess.CompletedProcess[str], Path]:
        record = top / name / "record"
        record.mkdir(parents=True)
        tasks = tasks or [
            {"ansible.builtin.include_role": {"name": "postgresql", "tasks_from": "databases.yml"}},
            {"ansible.builtin.include_role": {"name": "shiny_server", "tasks_from": "db_config.yml"}},
            # Before the handlers: there is no Shiny Server here to restart.
            {"ansible.builtin.meta": "end_play"},
        ]
        playbook = [{"hosts": "localhost", "connection": "recording", "gather_facts": False,
                     "environment": {"PGUSER": params["user"], "PGPASSWORD": params["password"]},
                     "tasks": tasks}]
        (top / name / "play.yml").write_text(json.dumps(playbook))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "AWS_"))}
        env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(ROLES),
                   ANSIBLE_LOCAL_TEMP=str(top / name / "local"),
                   ANSIBLE_REMOTE_TMP=str(top / name / "remote"),
                   ANSIBLE_CONNECTION_PLUGINS=str(Path(__file__).parent / "plugins" / "connection"),
                   CLICKSTREAM_RECORD_DIR=str(record), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_CALLBACK_RESULT_FORMAT="json")
        done = subprocess.run([ANSIBLE_PLAYBOOK, "-vvv", "-i", "localhost,", "-e", f"@{top}/vars.json",
                               str(top / name / "play.yml")], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        return done, record

    return run


def recap_changed(out: str) -> int:
    found = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", out)
    assert found, out[-3000:]
    return int(found.group(1))


@pytest.mark.slow
def test_the_roles_set_passwords_without_sending_them(play, cluster: PgCluster, ssm, tmp_path: Path) -> None:
    values = {login: password() for login in (WRITER, READER)}
    for login, value in values.items():
        ssm.put_parameter(Name=dw_password_parameter_name(ENV, login), Value=value, Type="SecureString",
                          Overwrite=True)
    for login in (WRITER, READER):
        with contextlib.closing(superuser(cluster)) as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))

    done, record = play("first")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-5000:]
    for login, value in values.items():
        assert can_log_in(cluster, login, value)
    settings = Path(json.loads((record.parents[1] / "vars.json").read_text())["shiny_server_db_config_path"])
    assert f"\npassword: {values[READER]}\n" in settings.read_text()
    assert settings.stat().st_mode & 0o7777 == 0o400
    # the roles created, the passwords set, the settings file written (tasks, not items)
    assert recap_changed(out) == 3
    assert out.count("\"stdout\": \"changed: the password of ") == 2  # the NOLOGIN role has none

    scan = scan_for(list(values.values()), record, out)
    assert scan["leaks"] == []
    # The scan did read the tasks' module arguments: the parameters' names are in them.
    assert any(dw_password_parameter_name(ENV, WRITER) in args for args in scan["args"])
    assert len(scan["args"]) >= 6

    again, record = play("second")
    assert again.returncode == 0 and recap_changed(again.stdout) == 0, again.stdout[-3000:]
    assert scan_for(list(values.values()), record, again.stdout + again.stderr)["leaks"] == []

    rotated = password()
    ssm.put_parameter(Name=dw_password_parameter_name(ENV, WRITER), Value=rotated, Type="SecureString",
                      Overwrite=True)
    third, record = play("rotated")
    assert third.returncode == 0 and recap_changed(third.stdout) == 1, third.stdout[-3000:]
    assert can_log_in(cluster, WRITER, rotated) and not can_log_in(cluster, WRITER, values[WRITER])
    assert scan_for([rotated], record, third.stdout + third.stderr)["leaks"] == []


@pytest.mark.slow
def test_the_scan_finds_a_password_passed_as_a_module_argument(play, tmp_path: Path) -> None:
    """The same scan on the way the role set passwords before (postgresql_user's password argument,
    no_log as it had): the password is in the module's arguments that went to the host."""
    value = password()
    (tmp_path / "pw").write_text(value)
    old_way = {
        "community.postgresql.postgresql_user": {
            "name": "old_way", "password": f"{{{{ lookup('file', '{tmp_path / 'pw'}') }}}}",
            "login_unix_socket": "{{ postgresql_socket_dir }}", "login_port": "{{ postgresql_port }}",
        },
        "no_log": True,
    }
    done, record = play("old-way", [old_way])
    assert done.returncode == 0, done.stdout[-3000:]
    leaks = scan_for([value], record, done.stdout + done.stderr)["leaks"]
    assert any(leak.startswith("module args of ") for leak in leaks), leaks
    assert "ansible-playbook's output" not in leaks  # no_log hid it from the output only


# --- statically ----------------------------------------------------------------------------

# Names with "password" in them that a role may use: a parameter's name, the tool's registered
# output, PostgreSQL's setting.
ALLOWED = re.compile(r"^(\w*password_parameter|postgresql_passwords|password_encryption)$")
JINJA = re.compile(r"{{(.*?)}}|{%(.*?)%}", re.DOTALL)
# An identifier or key holding "password" (not a word of a hyphenated literal like 'set-password').
NAME = re.compile(r"(?<![\w-])\w*password\w*(?![\w-])", re.IGNORECASE)
# Task keywords whose values are Jinja without the braces.
BARE = {"when", "changed_when", "failed_when", "until", "that", "loop"}


def code_of(node: object, bare: bool = False) -> Iterator[str]:
    """The keys of a role's YAML and the Jinja in its values: what reaches a module or a template."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from code_of(value, bare=key in BARE)
    elif isinstance(node, list):
        for value in node:
            yield from code_of(value, bare)
    elif isinstance(node, str):
        yield from ([node] if bare else ["".join(m) for m in JINJA.findall(node)])


def option_names(options: dict) -> Iterator[str]:
    for name, spec in (options or {}).items():
        yield name
        yield from option_names((spec or {}).get("options", {}))


def test_no_role_takes_or_uses_a_password_variable() -> None:
    """No key or Jinja expression of a role's tasks, handlers, defaults and vars, no expression
    of its templates and no option (or sub-option) of its argument specs names a password, only
    parameters holding one: nothing there could put one in a module's arguments or a template."""
    found = {}
    for part in ("tasks", "handlers", "defaults", "vars", "templates"):
        for path in (p for p in ROLES.glob(f"*/{part}/**/*") if p.is_file()):
            text = path.read_text()
            if part == "templates":
                code = ["".join(m) for m in JINJA.findall(text)]
            else:
                code = list(code_of(yaml.safe_load(text)))
            names = {n for c in code for n in NAME.findall(c) if not ALLOWED.match(n)}
            if names:
                found[str(path.relative_to(REPO))] = sorted(names)
    for spec in ROLES.glob("*/meta/argument_specs.yml"):
        names = option_names(yaml.safe_load(spec.read_text())["argument_specs"]["main"]["options"])
        bad = sorted(n for n in names if "password" in n and not ALLOWED.match(n))
        if bad:
            found[str(spec.relative_to(REPO))] = bad
    assert found == {}


def test_the_password_check_sees_a_password_variable(tmp_path: Path) -> None:
    """The old way, as roles/oltp passed its logins and roles/shiny_server's template read one."""
    old_task = yaml.safe_load("""
    - name: Create the roles
      community.postgresql.postgresql_user:
        name: "{{ item.name }}"
        password: "{{ item.password | default(omit) }}"
      loop: "{{ [{'name': oltp_app_user, 'password': oltp_app_password}] }}"
    """)
    names = {n for c in code_of(old_task) for n in NAME.findall(c) if not ALLOWED.match(n)}
    assert names == {"password", "oltp_app_password"}
    template = "user: {{ shiny_server_db_user }}\npassword: {{ shiny_server_db_password }}\n"
    assert [n for m in JINJA.findall(template) for n in NAME.findall("".join(m))] == [
        "shiny_server_db_password"]


def test_the_roles_read_the_parameters_the_stacks_create_each_host_its_own() -> None:
    """Each role's default parameter name, rendered for an environment, is the stacks' name
    (stacks/params.py, `deploy` creates them) and lies under the path the reading host's IAM role
    may read (stacks/hosts.py: host_parameter_path); the DW host runs the dashboards."""

    def default(role: str, name: str, **context: str) -> str:
        values = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
        return jinja2.Template(values[name]).render(platform_env="dev", **context)

    dw, oltp = "postgres_dw", "oltp"
    reads = {
        ("dw", default(dw, f"{dw}_writer_password_parameter", postgres_dw_writer_user=WRITER)):
            dw_password_parameter_name("dev", WRITER),
        ("dw", default(dw, f"{dw}_reader_password_parameter", postgres_dw_reader_user=READER)):
            dw_password_parameter_name("dev", READER),
        ("dw", default("shiny_server", "shiny_server_db_password_parameter", shiny_server_db_user=READER)):
            dw_password_parameter_name("dev", READER),
        ("oltp", default(oltp, "oltp_app_password_parameter", oltp_app_user="shop_app")):
            oltp_password_parameter_name("dev", "shop_app"),
        ("oltp", default(oltp, "oltp_analytics_password_parameter", oltp_analytics_user="analytics_reader")):
            oltp_password_parameter_name("dev", "analytics_reader"),
    }
    for (host_role, rendered), expected in reads.items():
        assert rendered == expected
        assert rendered.startswith(host_parameter_path("dev", host_role))
