"""What configuring the local hosts reads from the tree (localplatform.demo.provision)."""

from __future__ import annotations

from pathlib import Path

from localplatform.demo import provision
from localplatform.demo.config import REPO


def test_the_tree_has_every_piece_the_hosts_need():
    assert provision.missing_host_pieces() == []


def test_the_site_playbook_applies_each_role_once_in_order(tmp_path: Path):
    site = tmp_path / "site.yml"
    site.write_text("- hosts: dw\n  roles:\n    - postgres_dw\n    - role: shiny_server\n"
                    "- hosts: all\n  roles: [agents, postgres_dw]\n- import_playbook: other.yml\n")
    assert provision.site_roles(site) == ["postgres_dw", "shiny_server", "agents"]
    site_roles = provision.site_roles(REPO / "playbooks" / "site.yml")
    assert set(site_roles) >= {"postgres_dw", "shiny_server", "oltp"}


def test_inventory_defines_finds_a_variable_set_in_any_group_file(tmp_path: Path):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "dw.yml").write_text("# shiny_server_db_user: commented\n"
                                                     "  shiny_server_db_password: \"{{ x }}\"\n")
    assert provision.inventory_defines("shiny_server_db_password", tmp_path)
    assert not provision.inventory_defines("shiny_server_db_user", tmp_path)
    assert not provision.inventory_defines("shiny_server_db", tmp_path)
    assert provision.inventory_defines("shiny_server_db_password")  # inventories/local sets it
