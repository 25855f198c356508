"""Which process owns a run: this one, a forked child, a process that has ended."""

import os
import subprocess
import sys

from agentcli.services.liveness import current_owner, owner_alive


def test_this_process_is_alive_and_an_ended_one_is_not():
    assert owner_alive(current_owner())
    ended = subprocess.run(
        [
            sys.executable,
            "-c",
            "from agentcli.services.liveness import current_owner as o; print(o())",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert ended.split(":")[1] != str(os.getpid()) and not owner_alive(ended)


FORK = """
import os
from agentcli.services.liveness import current_owner
parent = current_owner()
pid = os.fork()
if pid == 0:
    print(current_owner(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
print(parent, pid)
"""


def test_a_forked_child_names_itself_not_its_parent():
    out = subprocess.run([sys.executable, "-c", FORK], capture_output=True, text=True, check=True)
    child, parent_and_pid = out.stdout.splitlines()
    parent, pid = parent_and_pid.split()
    assert (child.split(":")[1], child != parent) == (pid, True)
    assert not owner_alive(child)
