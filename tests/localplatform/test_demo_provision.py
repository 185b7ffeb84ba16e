"""What configuring the local hosts reads from the tree (localplatform.demo.provision)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from localplatform.demo import provision
from localplatform.demo.config import PLATFORM_ENV, REPO, DemoConfig


def test_the_tree_has_every_piece_the_hosts_need():
    assert provision.missing_host_pieces() == []


def test_the_site_playbook_applies_each_role_once_in_order(tmp_path: Path):
    site = tmp_path / "site.yml"
    site.write_text("- hosts: dw\n  roles:\n    - postgres_dw\n    - role: shiny_server\n"
                    "- hosts: all\n  roles: [agents, postgres_dw]\n- import_playbook: other.yml\n")
    assert provision.site_roles(site) == ["postgres_dw", "shiny_server", "agents"]
    site_roles = provision.site_roles(REPO / "playbooks" / "site.yml")
    assert set(site_roles) >= {"postgres_dw", "shiny_server", "oltp"}


def test_the_local_inventory_holds_no_password_and_names_the_stand_in(monkeypatch: pytest.MonkeyPatch):
    """The local hosts read their passwords from the demo's Parameter Store stand-in, as the EC2
    hosts read AWS's: the inventory has no password variable (nor the secrets' files), only the
    stand-in's URL, from the environment run_playbook sets."""
    group_vars = REPO / "inventories" / "local" / "group_vars"
    code = re.sub(r"#.*", "", "\n".join(p.read_text() for p in sorted(group_vars.glob("*.yml"))))
    assert "password" not in code.replace("password_parameter", "")
    assert "secrets" not in code
    all_vars = yaml.safe_load((group_vars / "all.yml").read_text())
    assert "CLICKSTREAM_SSM_ENDPOINT_URL" in all_vars["clickstream_ssm_endpoint_url"]
    assert all_vars["postgresql_ssm_endpoint_url"] == all_vars["shiny_server_ssm_endpoint_url"] == (
        "{{ clickstream_ssm_endpoint_url }}")
    assert all_vars["platform_env"] == PLATFORM_ENV
    cfg = DemoConfig.from_env({"DEMO_STATE_DIR": "/nonexistent"})
    env = provision._ansible_env(cfg, "http://10.88.0.1:15000")
    assert env["CLICKSTREAM_SSM_ENDPOINT_URL"] == "http://10.88.0.1:15000"
    assert not any("SECRET" in key for key in env if key.startswith("CLICKSTREAM"))
