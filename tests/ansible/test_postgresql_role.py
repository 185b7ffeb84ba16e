"""roles/postgresql on the controller: its two templates as PostgreSQL judges them, and its input checks.

Each test runs ansible-playbook on localhost against the role's own files. The templates are
written by the role's own template tasks from tasks/configure.yml (dest moved to a temp dir),
so their `validate:` runs files/postgresql-check-config against the installed PostgreSQL. The
preflight runs as the role runs it (the logins' passwords are tests/ansible/test_host_secrets.py's).
The molecule scenarios of postgres_dw and oltp run the role on a Debian host.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.pgcluster import pg_bindir

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "postgresql"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).with_name("ansible-playbook"))

pytestmark = pytest.mark.slow


def playbook(tmp_path: Path, tasks: list[dict], extra_vars: dict) -> subprocess.CompletedProcess[str]:
    """Runs `tasks` on localhost with `extra_vars`; roles/ is the roles path."""
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(json.dumps(play))
    extra = {"ansible_python_interpreter": sys.executable, **extra_vars}
    (tmp_path / "vars.json").write_text(json.dumps(extra))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_NOCOLOR="1",
        # One line per message, to match against (ansible.cfg asks for YAML, which wraps them).
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
    )
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-e", f"@{tmp_path}/vars.json", f"{tmp_path}/play.yml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def config_dir(tmp_path: Path) -> Path:
    """A config directory laid out as Debian's: postgresql.conf including conf.d, one other drop-in."""
    config = tmp_path / "config"
    (config / "conf.d").mkdir(parents=True)
    (config / "postgresql.conf").write_text(
        "data_directory = '/var/lib/postgresql/15/main'\ninclude_dir = 'conf.d'\n"
    )
    (config / "conf.d" / "10-other.conf").write_text("work_mem = '4MB'\n")
    return config


def write_with_role_task(tmp_path: Path, src: str, extra_vars: dict) -> subprocess.CompletedProcess[str]:
    """The task of tasks/configure.yml that writes `src`, as it is but for dest (tmp_path/out)."""
    tasks = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text())
    (task,) = [t for t in tasks if t.get("ansible.builtin.template", {}).get("src") == src]
    args = dict(task["ansible.builtin.template"])
    assert "validate" in args, f"{src} is written without validate:"
    args.update(src=str(ROLE / "templates" / src), dest=str(tmp_path / "out"))
    for key in ("owner", "group"):
        args.pop(key, None)
    layout = {  # what vars/Debian.yml says on a host, pointed at the controller
        "postgresql_check_config": str(ROLE / "files" / "postgresql-check-config"),
        "postgresql_bin_dir": str(pg_bindir()),
        "postgresql_config_dir": str(config_dir(tmp_path)),
        "postgresql_conf_dropin": "50-server.conf",
    }
    written = {"name": task["name"], "ansible.builtin.template": args}
    return playbook(tmp_path, [written], {**extra_vars, **layout})


def rules(text: str) -> list[str]:
    """pg_hba.conf lines without comments and blank lines, white space folded."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip() and not line.startswith("#")]


SCRAM = "scram-sha-256"
APP_LOCAL = {"comment": "App here.", "type": "local", "database": "shop", "user": "shop_app",
             "auth_method": SCRAM}
APP_LOOPBACK = {**APP_LOCAL, "type": "host", "addresses": ["127.0.0.1/32", "::1/128"]}
APP_TRUSTED = {**APP_LOCAL, "type": "hostssl", "addresses": []}
ANALYTICS = {"type": "hostssl", "database": "shop", "user": "analytics", "addresses": ["10.0.3.0/24"],
             "auth_method": "cert", "auth_options": "clientname=CN"}


def test_pg_hba_is_written_from_the_entries_between_the_fixed_first_and_last_lines(tmp_path: Path) -> None:
    entries = [APP_LOCAL, APP_LOOPBACK, APP_TRUSTED, ANALYTICS]
    done = write_with_role_task(tmp_path, "pg_hba.conf.j2", {"postgresql_hba_entries": entries})
    assert done.returncode == 0, done.stdout + done.stderr
    written = (tmp_path / "out").read_text()
    assert rules(written) == [
        "local all postgres peer",
        "local shop shop_app scram-sha-256",
        "host shop shop_app 127.0.0.1/32 scram-sha-256",
        "host shop shop_app ::1/128 scram-sha-256",
        # APP_TRUSTED has no addresses: no line
        "hostssl shop analytics 10.0.3.0/24 cert clientname=CN",
        "local all all reject",
        "host all all 0.0.0.0/0 reject",
        "host all all ::/0 reject",
    ]
    assert written.startswith("#\n# Ansible managed\n")
    assert "\n# App here.\nlocal " in written


def test_a_pg_hba_that_postgresql_cannot_load_is_never_written(tmp_path: Path) -> None:
    entries = [APP_LOCAL, {**ANALYTICS, "auth_options": "clientname=nobody"}]
    done = write_with_role_task(tmp_path, "pg_hba.conf.j2", {"postgresql_hba_entries": entries})
    assert done.returncode != 0
    assert "failed to validate" in done.stdout
    # PostgreSQL's own words, naming the line of the candidate
    assert re.search(r'invalid value for clientname: \\"nobody\\"', done.stdout), done.stdout
    assert re.search(r'line \d+ of configuration file \\"pg_hba.conf \(the candidate\)', done.stdout)
    assert not (tmp_path / "out").exists()


def write_settings(tmp_path: Path, **extra_vars: object) -> subprocess.CompletedProcess[str]:
    """The settings drop-in from the role's defaults and vars, as the role loads them, and `extra_vars`."""
    role_vars: dict = {}
    for part in ("defaults", "vars"):
        role_vars.update(yaml.safe_load((ROLE / part / "main.yml").read_text()))
    host = {"postgresql_memory_mb": 2048, "postgresql_private_address": "10.0.2.15"}  # no facts here
    return write_with_role_task(tmp_path, "server.conf.j2", {**role_vars, **host, **extra_vars})


def test_settings_are_the_role_s_then_the_consumer_s_then_the_operator_s(tmp_path: Path) -> None:
    done = write_settings(
        tmp_path,
        postgresql_settings={"log_temp_files": 0, "work_mem": "32MB", "application_name": "it's"},
        postgresql_extra_settings={"work_mem": "48MB", "log_lock_waits": False},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in (tmp_path / "out").read_text().splitlines() if not line.startswith("#")]
    settings = dict(line.split(" = ", 1) for line in lines)
    assert len(settings) == len(lines)  # each name once
    assert list(settings)[:3] == ["listen_addresses", "port", "max_connections"]
    assert settings["listen_addresses"] == "'localhost,10.0.2.15'"
    assert settings["port"] == "5432"
    assert settings["ssl"] == "on"
    assert settings["password_encryption"] == "'scram-sha-256'"
    assert settings["shared_buffers"] == "'512MB'"
    assert settings["effective_cache_size"] == "'1536MB'"
    assert settings["work_mem"] == "'48MB'"  # the operator's last word
    assert settings["log_lock_waits"] == "off"
    assert settings["log_temp_files"] == "0"
    assert settings["application_name"] == "'it''s'"
    assert settings["log_line_prefix"] == "'%m [%p] %q%u@%d from %h '"


def test_default_work_mem_is_what_is_left_per_connection_up_to_the_cap(tmp_path: Path) -> None:
    done = write_settings(tmp_path, postgresql_memory_mb=65536, postgresql_work_mem_max_mb=256)
    assert done.returncode == 0, done.stdout + done.stderr
    # (64 GiB - 16 GiB of shared_buffers) / (3 x 100 connections) = 163 MB, under the cap of 256
    assert "work_mem = '163MB'" in (tmp_path / "out").read_text()


def test_a_setting_postgresql_rejects_is_never_written(tmp_path: Path) -> None:
    done = write_settings(tmp_path, postgresql_extra_settings={"shared_bufers": "1GB"})
    assert done.returncode != 0
    assert 'unrecognized configuration parameter \\"shared_bufers\\"' in done.stdout, done.stdout
    assert not (tmp_path / "out").exists()


def run_preflight(tmp_path: Path, cases: dict[str, dict]) -> dict[str, str]:
    """Each case's vars through the role's preflight; case -> 'passed' or its failure messages."""
    messages = ("(ansible_failed_result.results | default([ansible_failed_result]))"
                " | selectattr('failed', 'defined') | selectattr('failed')"
                " | map(attribute='msg') | join(' | ')")
    role = {"name": "postgresql", "tasks_from": "preflight.yml"}
    tasks = [
        {
            "name": f"Case {name}",
            "block": [
                {"ansible.builtin.include_role": role, "vars": case},
                {"ansible.builtin.debug": {"msg": f"RESULT {name}: passed"}},
            ],
            "rescue": [{"ansible.builtin.debug": {"msg": f"RESULT {name}: {{{{ {messages} }}}}"}}],
        }
        for name, case in cases.items()
    ]
    # The facts the preflight would otherwise gather first.
    facts = {"ansible_facts": {"memtotal_mb": 2048, "all_ipv4_addresses": ["10.0.2.15"]}}
    done = playbook(tmp_path, [{"name": "Facts", "ansible.builtin.set_fact": facts}, *tasks], {})
    found = dict(re.findall(r'"msg": "RESULT (\w+): (.*)"', done.stdout))
    assert set(found) == set(cases), done.stdout + done.stderr
    return found


HOST_WITHOUT_ADDRESSES = {k: v for k, v in APP_TRUSTED.items() if k != "addresses"}


def test_preflight_names_the_entry_and_the_rule_it_breaks(tmp_path: Path) -> None:
    world_reject = {**APP_TRUSTED, "addresses": ["0.0.0.0/0"], "auth_method": "reject"}
    found = run_preflight(tmp_path, {
        "valid": {
            "postgresql_hba_entries": [APP_LOCAL, APP_LOOPBACK, APP_TRUSTED, ANALYTICS, world_reject],
            "postgresql_users": [{"name": "shop_owner"},
                                 {"name": "shop_app", "password_parameter": "/clickstream/dev/oltp/app/pw"}],
        },
        "world": {"postgresql_hba_entries": [{**APP_TRUSTED, "addresses": ["10.0.0.0/8", "::/0"]}]},
        "not_cidr": {"postgresql_hba_entries": [{**APP_TRUSTED, "addresses": ["10.0.0.1", "db.example/32"]}]},
        "local_with_address": {"postgresql_hba_entries": [{**APP_LOCAL, "addresses": ["10.0.0.0/8"]}]},
        "host_without": {"postgresql_hba_entries": [HOST_WITHOUT_ADDRESSES]},
        "two_words": {"postgresql_hba_entries": [{**APP_LOCAL, "user": "shop app"}]},
        "bad_parameter": {"postgresql_users": [
            {"name": "shop_app", "password_parameter": "clickstream/no-slash"},
            {"name": "etl", "password_parameter": "/clickstream/dev/dw/etl"},
            {"name": "spaced", "password_parameter": "/a b/password"},
        ]},
    })
    assert found["valid"] == "passed"
    assert "only reject may name every address (0.0.0.0/0 or ::/0)" in found["world"]
    assert '\\"addresses\\": [\\"10.0.0.0/8\\", \\"::/0\\"]' in found["world"]  # names the entry
    assert "10.0.0.1 is not a CIDR" in found["not_cidr"]
    assert "db.example/32 is not a CIDR" in found["not_cidr"]
    assert "a local entry has no addresses" in found["local_with_address"]
    assert "a hostssl entry needs addresses" in found["host_without"]
    assert "database and user must be single words" in found["two_words"]
    assert found["bad_parameter"].startswith(
        "postgresql_users: the password_parameter of shop_app, spaced must be an SSM parameter name")


def validate_arguments(tmp_path: Path, provided: dict) -> subprocess.CompletedProcess[str]:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())
    task = {
        "name": "Validate the arguments as the role's start does",
        "ansible.builtin.validate_argument_spec": {
            "argument_spec": specs["argument_specs"]["main"]["options"],
            "provided_arguments": provided,
        },
    }
    return playbook(tmp_path, [task], {})


def test_argument_specs_refuse_a_method_without_a_password_or_certificate(tmp_path: Path) -> None:
    done = validate_arguments(tmp_path, {"postgresql_hba_entries": [{**APP_LOCAL, "auth_method": "trust"}]})
    assert done.returncode != 0
    assert "value of auth_method must be one of: scram-sha-256, peer, cert, reject, got: trust" in done.stdout


def test_argument_specs_refuse_a_login_s_password(tmp_path: Path) -> None:
    """A login takes the name of the parameter holding its password, never the password: the
    password would travel to the host as a module argument (tests/ansible/test_host_secrets.py)."""
    done = validate_arguments(tmp_path, {"postgresql_users": [{"name": "shop_app", "password": "x" * 20}]})
    assert done.returncode != 0
    assert "postgresql_users.password. Supported parameters include:" in done.stdout + done.stderr
    assert "x" * 20 not in done.stdout + done.stderr
    done = validate_arguments(tmp_path, {"postgresql_users": [
        {"name": "shop_app", "password_parameter": "/clickstream/dev/oltp/shop_app/password"}]})
    assert done.returncode == 0, done.stdout
