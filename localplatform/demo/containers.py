"""The local hosts: Debian 12 systemd containers under podman, created, reused and removed by name.

The demo touches only containers that carry its label (DEMO_LABEL=1): one of the same name
without it is someone else's, and the demo stops with a message instead of replacing it.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence

from localplatform.demo.config import DEMO_LABEL, DemoError, tool_env
from localplatform.demo.processes import port_open
from localplatform.demo.progress import Progress


def podman(*args: str, check: bool = True, timeout: float = 300, stdin_text: str | None = None,
           env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `podman ARGS`; with check, a failure is a DemoError quoting podman's message."""
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False,
                          input=stdin_text, env={**tool_env(), **(env or {})})
    if check and proc.returncode != 0:
        raise DemoError(f"podman {' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def image_exists(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


def container_state(name: str) -> tuple[bool, bool] | None:
    """(running, ours) for an existing container, None when there is none of that name."""
    proc = podman("container", "inspect", "--format",
                  "{{.State.Running}} {{index .Config.Labels \"" + DEMO_LABEL + "\"}}", name, check=False)
    if proc.returncode != 0:
        return None
    running, _, label = proc.stdout.strip().partition(" ")
    return running == "true", label == "1"


def published_ports(name: str) -> set[str]:
    """Lines like "5432/tcp -> 127.0.0.1:15432" for the container's published ports."""
    proc = podman("port", name, check=False)
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}


def ensure_container(name: str, hostname: str, image: str, publish: Sequence[str],
                     progress: Progress) -> None:
    """Reuse the demo's container `name` (started if stopped) or create it; `publish` holds
    podman -p specs ("127.0.0.1:15432:5432"). Returns once systemd in it has booted."""
    state = container_state(name)
    if state and not state[1]:
        raise DemoError(f"a container named {name} exists but was not started by the demo "
                        f"(no label {DEMO_LABEL}=1); remove or rename it first")
    if state:
        published = published_ports(name)
        wanted = {f"{spec.split(':')[2]}/tcp -> {spec.rsplit(':', 1)[0]}" for spec in publish}
        # podman shows the ports of a running container only; a stopped one is checked once started.
        if state[0] and published != wanted:
            raise DemoError(f"{name} publishes {sorted(published) or 'no ports'}, this run wants "
                            f"{sorted(wanted) or 'none'}: run `make demo-down` first to change ports")
    if state and state[0]:
        progress.info(f"{name}: already running")
        return
    if state:
        progress.info(f"{name}: starting the existing container")
        podman("start", name)
    else:
        for spec in publish:
            port = int(spec.split(":")[1])
            if port_open(port):
                raise DemoError(f"127.0.0.1:{port} is already in use; choose another port (DEMO_DW_PORT / "
                                "DEMO_SHINY_PORT / DEMO_OLTP_PORT) or stop what listens there")
        args = ["run", "-d", "--name", name, "--hostname", hostname, "--label", f"{DEMO_LABEL}=1",
                "--systemd=always"]
        for spec in publish:
            args += ["-p", spec]
        progress.info(f"{name}: creating from {image}")
        podman(*args, image, "/sbin/init")
    wait_for_systemd(name)


def gateway(name: str) -> str:
    """The address container `name` reaches the machine at: its network's gateway (the podman
    bridge's address on the machine, 10.88.0.1 on podman's default network)."""
    proc = podman("container", "inspect", "--format", "{{.NetworkSettings.Gateway}}", name, check=False)
    address = proc.stdout.strip()
    if proc.returncode != 0 or not address:
        raise DemoError(f"{name}: no network gateway to reach the machine at "
                        f"({proc.stderr.strip() or 'the container has no bridge network'})")
    return address


def wait_for_systemd(name: str, timeout: float = 120) -> None:
    """Until systemd in the container has finished booting (its bus exists a moment after start)."""
    deadline = time.monotonic() + timeout
    while True:
        proc = podman("exec", name, "systemctl", "is-system-running", "--wait", check=False, timeout=timeout)
        status = proc.stdout.strip()
        if status in {"running", "degraded"}:
            return
        if time.monotonic() > deadline:
            raise DemoError(f"{name}: systemd did not come up (state {status or proc.stderr.strip()!r})")
        time.sleep(1)


def remove_ours(name: str) -> str | None:
    """Remove container `name` if the demo started it; what was done, None when there is none."""
    state = container_state(name)
    if state is None:
        return None
    if not state[1]:
        return f"left {name}: not started by the demo (no label {DEMO_LABEL}=1)"
    podman("rm", "--force", "--time", "5", name)
    return f"removed container {name}"
