"""The local connection, recording what it carries: every file it puts on the "host" (module
payloads, rendered templates, copies) into its own directory under $CLICKSTREAM_RECORD_DIR, and
every command it runs (with its stdin) appended to commands.log there. tests/ansible/test_host_secrets.py
searches the record for passwords: what would travel through a real connection (for aws_ssm, its
transfer bucket) is exactly this.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = """
    name: recording
    short_description: execute on controller, recording what is sent
    description:
        - The local connection; every file put and every command run is also recorded under
          the directory named by CLICKSTREAM_RECORD_DIR (tests only).
    author: clickstream platform team
    options:
        become_success_timeout:
            type: int
            default: 10
            description: As the local connection's.
            vars:
                - name: ansible_local_become_success_timeout
        become_strip_preamble:
            type: bool
            default: true
            description: As the local connection's.
            vars:
                - name: ansible_local_become_strip_preamble
    extends_documentation_fragment:
        - connection_pipelining
"""


class Connection(LocalConnection):
    transport = "recording"

    def _record_dir(self) -> str:
        record = os.environ["CLICKSTREAM_RECORD_DIR"]
        os.makedirs(record, exist_ok=True)
        return record

    def exec_command(self, cmd, in_data=None, sudoable=True):
        with open(os.path.join(self._record_dir(), "commands.log"), "ab") as log:
            log.write((cmd if isinstance(cmd, bytes) else str(cmd).encode()) + b"\n")
            if in_data:
                data = in_data if isinstance(in_data, bytes) else str(in_data).encode()
                log.write(b"stdin: " + data + b"\n")
        return super().exec_command(cmd, in_data=in_data, sudoable=sudoable)

    def put_file(self, in_path, out_path):
        super().put_file(in_path, out_path)
        where = tempfile.mkdtemp(prefix="put-", dir=self._record_dir())
        shutil.copyfile(in_path, os.path.join(where, os.path.basename(out_path)))
