"""The processes the demo manages, and waiting for HTTP servers (localplatform.demo.processes)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from localplatform.demo import processes
from localplatform.demo.config import DemoError
from localplatform.demo.processes import ManagedProcess
from tests.support.net import free_port


def test_managed_process_is_reused_and_stopped_by_its_recorded_id(tmp_path: Path):
    proc = ManagedProcess("sleeper", tmp_path / "sleeper.json")
    cmd = [sys.executable, "-c", "import time; time.sleep(60)"]
    pid = proc.start(cmd, os.environ, tmp_path / "sleeper.log")
    assert proc.running_pid() == pid
    assert proc.start(cmd, os.environ, tmp_path / "sleeper.log") == pid, "a running process is reused"
    assert proc.stop() is True
    assert processes.proc_start_ticks(pid) is None or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    assert proc.running_pid() is None and not proc.pid_file.exists()
    assert proc.stop() is False


def test_a_recycled_pid_is_not_taken_for_ours(tmp_path: Path):
    proc = ManagedProcess("other", tmp_path / "other.json")
    # Our own pid, but recorded with another start time: not the process the demo started.
    proc.pid_file.write_text(f'{{"pid": {os.getpid()}, "start": "1", "cmd": []}}')
    assert proc.running_pid() is None
    assert proc.stop() is False  # and nothing was signalled: this test is still running


@pytest.fixture
def server() -> Iterator[tuple[str, dict]]:
    """A loopback HTTP server answering every GET with answer["status"]; yields (url, answer)."""
    answer = {"status": 503}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(answer["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", answer
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_server_is_up_when_it_answers_at_all_and_ok_when_it_answers_200(server):
    url, answer = server
    assert processes.port_open(int(url.rsplit(":", 1)[1].strip("/")))
    assert processes.http_status(url, timeout=2) == 503
    processes.wait_http(url, timeout=5)  # a 503 is an answer: the server is up
    assert processes.answers_ok(url, timeout=1) is False
    answer["status"] = 200
    assert processes.answers_ok(url, timeout=5) is True


def test_waiting_for_nothing_names_the_url_and_shows_the_log(tmp_path: Path):
    url = f"http://127.0.0.1:{free_port()}/"
    assert processes.http_status(url, timeout=2) is None
    log = tmp_path / "server.log"
    log.write_text("listening soon\n")
    with pytest.raises(DemoError, match=rf"^{url} did not answer within 1s; log:\n    \| listening soon"):
        processes.wait_http(url, timeout=1, log=log)



def test_a_server_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path):
    proc = ManagedProcess("crasher", tmp_path / "crasher.json")
    log = tmp_path / "crasher.log"
    proc.start([sys.executable, "-c", "import sys; print('port taken'); sys.exit(3)"], os.environ, log)
    with pytest.raises(DemoError, match=r"^crasher exited while starting; its log:\n    \| port taken"):
        processes.wait_http(f"http://127.0.0.1:{free_port()}/", timeout=30, proc=proc, log=log)
