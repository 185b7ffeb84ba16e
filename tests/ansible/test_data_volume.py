"""roles/postgresql's data volume tasks on the controller, against image files instead of a disk.

The tasks of tasks/data_volume.yml run as they are, less the package install and the mount (the
oltp molecule scenario mounts a loop device in a Debian host): a volume without any signature
is formatted once and never again, a volume holding a partition table or another file system
is refused untouched, and a cluster on the root disk where the volume goes stops the run.
"""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible.test_postgresql_role import ROLE, playbook

pytestmark = pytest.mark.slow

SKIPPED_MODULES = ("ansible.builtin.apt", "ansible.posix.mount")


def run_tasks(tmp_path: Path, device: Path, mount: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    tasks = yaml.safe_load((ROLE / "tasks" / "data_volume.yml").read_text())
    kept = [t for t in tasks if not any(m in t for m in SKIPPED_MODULES)]
    assert len(kept) == len(tasks) - 2
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    role_vars = {k: v for k, v in defaults.items() if k.startswith("postgresql_data_")}
    layout = yaml.safe_load((ROLE / "vars" / "Debian.yml").read_text())
    role_vars |= {"postgresql_version": defaults["postgresql_version"],
                  **{k: layout[k] for k in ("postgresql_config_dir", "postgresql_config_copy_dir")}}
    return playbook(tmp_path, kept, {**role_vars, "postgresql_data_device": str(device),
                                     "postgresql_data_mount": str(mount),
                                     "postgresql_data_device_timeout": 5, **extra})


def probe(device: Path) -> dict[str, str]:
    done = subprocess.run(["blkid", "-p", "-o", "export", str(device)], capture_output=True, text=True,
                          check=False)
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def changed_tasks(done: subprocess.CompletedProcess[str]) -> int:
    recap = [line for line in done.stdout.splitlines() if line.startswith("localhost ")]
    return int(recap[-1].split("changed=")[1].split()[0])


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    image = tmp_path / "volume.img"
    with image.open("wb") as f:
        f.truncate(32 * 1024 * 1024)
    return image


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    return tmp_path / "var-lib-postgresql"       # absent, as on a fresh host


def test_a_new_volume_is_formatted_once_and_never_again(tmp_path: Path, volume: Path, mount: Path):
    first = run_tasks(tmp_path, volume, mount)
    assert first.returncode == 0, first.stdout + first.stderr
    made = probe(volume)
    assert (made["TYPE"], made["LABEL"]) == ("ext4", "pgdata")
    assert changed_tasks(first) == 1                      # the format
    before = digest(volume)
    again = run_tasks(tmp_path, volume, mount)
    assert again.returncode == 0, again.stdout + again.stderr
    assert changed_tasks(again) == 0
    assert probe(volume)["UUID"] == made["UUID"]
    assert digest(volume) == before                       # not written at all


def test_a_volume_with_another_file_system_is_refused_untouched(tmp_path: Path, volume: Path, mount: Path):
    subprocess.run(["mkfs.ext4", "-q", "-L", "other", str(volume)], check=True)
    before = digest(volume)
    done = run_tasks(tmp_path, volume, mount, postgresql_data_fstype="xfs")
    assert done.returncode != 0
    assert "never formats a device that holds anything" in done.stdout
    assert "TYPE=ext4" in done.stdout
    assert digest(volume) == before


def test_a_volume_with_a_partition_table_is_refused_untouched(tmp_path: Path, volume: Path, mount: Path):
    with volume.open("r+b") as f:                # an MBR with one Linux partition
        f.seek(446)
        f.write(struct.pack("<B3sB3sII", 0, b"\x00\x02\x00", 0x83, b"\x00\x00\x00", 2048, 20000))
        f.seek(510)
        f.write(b"\x55\xaa")
    before = digest(volume)
    done = run_tasks(tmp_path, volume, mount)
    assert done.returncode != 0
    assert "PTTYPE=dos" in done.stdout and "never formats" in done.stdout
    assert digest(volume) == before


def test_a_cluster_on_the_root_disk_where_the_volume_goes_stops_the_run(tmp_path: Path, volume: Path,
                                                                      mount: Path):
    (mount / "15" / "main").mkdir(parents=True)
    (mount / "15" / "main" / "PG_VERSION").write_text("15\n")
    done = run_tasks(tmp_path, volume, mount)
    assert done.returncode != 0
    assert "is on the root disk and not empty" in done.stdout
    assert "Moving an existing cluster onto the data volume" in done.stdout
    assert probe(volume) == {}                            # the run stopped before formatting


def test_an_absent_device_fails_after_the_timeout_and_names_it(tmp_path: Path, mount: Path):
    done = run_tasks(tmp_path, tmp_path / "no-such-device", mount, postgresql_data_device_timeout=1)
    assert done.returncode != 0
    assert json.dumps(str(tmp_path / "no-such-device"))[1:-1] in done.stdout
