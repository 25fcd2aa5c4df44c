"""In a real browser: an admin adds the Companies House stream, starts it, and watches it connect and count."""

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import Page, expect

from strata.streams.simulator import SimulatorConfig, SimulatorServer

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def streams_worker(app):
    """A real `flask worker` on the streams queue, killed with its work horse afterwards."""
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], REDIS_URL=app.config["REDIS_URL"],
               SECRET_KEY="x", PYTHONPATH=str(ROOT))
    worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app:create_app", "worker", "--queues",
                               "streams", "--no-scheduler"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    yield worker
    # RQ starts each work horse in a session of its own: kill the horse as well as the worker.
    family = [worker.pid, *(child.pid for child in psutil.Process(worker.pid).children(recursive=True))]
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(10)


def _events(page: Page) -> int:
    return int(page.locator("#stream-events").inner_text().strip())


def _add_and_start(page: Page, base: str, url: str, stream_type: str, heading: str) -> None:
    page.goto(f"{base}/t/acme/streams/")
    form = page.locator("#stream-form")
    form.locator("select[name=stream_type]").select_option(stream_type)
    form.get_by_label("Base URL").fill(url)
    form.get_by_label("Stream key").fill("demo-stream-key")
    form.get_by_role("button", name="Add stream").click()
    expect(page.locator("h1")).to_have_text(heading)
    expect(page.locator("#stream-state")).to_have_text("stopped")
    page.get_by_role("button", name="Start stream").click()
    expect(page.locator("#stream-state")).to_have_text("connected", timeout=30_000)


def test_two_streams_on_one_worker_connect_and_count(page: Page, live_server, sign_in, make_user, make_tenant,
                                                      streams_worker):
    user = make_user("admin@example.com", name="Ada")
    make_tenant("acme", "Acme Ltd", members={user: "admin"})
    with SimulatorServer(SimulatorConfig(backlog=0, rate=25, heartbeat=1)) as simulator:
        sign_in("admin@example.com")
        # One streams worker hosts both streams.
        _add_and_start(page, live_server.url, simulator.url, "filing-history", "Filing history stream")
        _add_and_start(page, live_server.url, simulator.url, "company-profile", "Company profiles stream")
        expect(page.locator("#stream-events")).not_to_have_text("0", timeout=15_000)
        first = _events(page)
        expect(page.locator("#stream-events")).not_to_have_text(str(first), timeout=15_000)
        assert _events(page) > first
        page.goto(f"{live_server.url}/t/acme/streams/")
        expect(page.locator("td.stream-state").filter(has_text="connected")).to_have_count(2)

        page.get_by_role("link", name="Company profiles").click()
        page.get_by_role("button", name="Stop stream").click()
        expect(page.locator("#stream-state")).to_have_text(re.compile("stopped"), timeout=20_000)
        page.get_by_role("link", name="Events log").click()
        expect(page.locator("#events tbody tr").first).to_contain_text("processed")
        page.goto(f"{live_server.url}/t/acme/streams/events?status=processed")
        expect(page.locator("#events tbody tr").filter(has_text="filing-history").first).to_be_visible()
