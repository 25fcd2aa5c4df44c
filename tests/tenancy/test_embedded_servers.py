"""The embedded PostgreSQL and Redis stop when the last process using them ends, however it ends."""

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from strata.runtime import _pid_alive, _postmaster_pid, _redis_answers

ROOT = Path(__file__).resolve().parents[2]

USER = """
import sys, time
from pathlib import Path
from strata.runtime import embedded_postgres, embedded_redis
instance = Path(sys.argv[1])
embedded_postgres(instance)
embedded_redis(instance, persist=False)
print("ready", flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def instance():
    folder = Path(tempfile.mkdtemp(prefix="strata-instance-"))
    folder.chmod(0o755)  # the embedded PostgreSQL runs as its own user when we are root
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _start_user(instance: Path) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", USER, str(instance)], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout.readline().strip() == "ready"
    process.stdout.close()
    return process


def _wait_until(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["term", "int", "kill"])
def test_servers_stop_when_their_only_user_is_killed(instance, signum):
    user = _start_user(instance)
    postmaster = _postmaster_pid(instance / "pgdata")
    assert postmaster is not None and _redis_answers(instance / "redis.sock")
    user.send_signal(signum)
    user.wait(30)
    assert _wait_until(lambda: not _pid_alive(postmaster)), "PostgreSQL still runs"
    assert _wait_until(lambda: not _redis_answers(instance / "redis.sock")), "Redis still runs"


def test_servers_outlive_a_killed_user_while_another_uses_them(instance):
    first, second = _start_user(instance), _start_user(instance)
    postmaster = _postmaster_pid(instance / "pgdata")
    first.kill()
    first.wait(30)
    time.sleep(3)  # three watchdog rounds
    assert _pid_alive(postmaster) and _redis_answers(instance / "redis.sock")
    second.terminate()
    second.wait(30)
    assert _wait_until(lambda: not _pid_alive(postmaster)), "PostgreSQL still runs"
    assert _wait_until(lambda: not _redis_answers(instance / "redis.sock")), "Redis still runs"
