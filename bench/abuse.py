"""Abuse benchmark: the worst inputs from four clients at once must not stall the server for others.

gunicorn serves the app on 127.0.0.1 (two gthread workers, four threads each, as `make run` does)
over the embedded servers, or BENCH_DATABASE_URL / BENCH_REDIS_URL. A signed-in tenant admin
then sends, from 4 clients for `--seconds` (default 30) and in turn: GraphQL alias bombs
(3,000 aliases), a 2 MB GraphQL query, JSON nested 100,000 and 600 deep, a YAML alias bomb and a
4,300-digit number in a manifest, and a catastrophic regex (`(a+)+$` against "aaa…!") as a thing
class's name pattern. A fifth client polls `/healthz` every 50 ms before and during the attack.

Printed: the slowest abusive answer (target < 1 s) and the `/healthz` p95 during the attack against
its p95 at rest (target ≤ 2×). Everything listens on 127.0.0.1 only, and the run is bounded in time.
Run from the repository root: `python bench/abuse.py [--seconds 30] [--rest 5]`.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from app import create_app  # noqa: E402
from bench._common import app_config, migrate_public, p95, servers, verdict  # noqa: E402

PASSWORD = "correct horse battery staple"
YAML_BOMB = "\n".join(["a: &a [x,x,x,x,x,x,x,x,x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(9)])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(found) -> tuple[str, str]:
    """Create the schema, a tenant and its admin; return (slug, email)."""
    from strata.accounts.models import Membership
    from strata.accounts.service import create_user
    from strata.db import db
    from strata.tenancy.service import create_tenant

    app = create_app(app_config(found))
    migrate_public(app)
    with app.app_context():
        email = f"abuse-{secrets.token_hex(4)}@example.com"
        user = create_user(email, PASSWORD, "Abuse", hash_method="pbkdf2:sha256:1000")
        tenant = create_tenant(f"abuse{secrets.token_hex(3)}", "Abuse")
        db.session.add(Membership(user_id=user.id, tenant_id=tenant.id, role="admin"))
        db.session.commit()
        slug = tenant.slug
        db.session.remove()
        db.engine.dispose()
    return slug, email


def _gunicorn(found, port: int) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": found.database_url, "REDIS_URL": found.redis_url,
           "SECRET_KEY": secrets.token_hex(16), "STRATA_ENV": "development", "SIGNUP_OPEN": "off",
           "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}
    command = [str(ROOT / ".venv/bin/gunicorn") if (ROOT / ".venv/bin/gunicorn").exists() else "gunicorn",
               "--bind", f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread", "--threads", "4",
               "--timeout", "60", "--log-level", "warning", "app:create_app()"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    os.killpg(process.pid, signal.SIGTERM)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def _signed_in(base: str, email: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, timeout=30)
    page = client.get("/login").text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if response.status_code != 302:
        raise SystemExit(f"sign-in failed: {response.status_code}")
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/", follow_redirects=True).text)[1]
    client.headers["X-CSRFToken"] = token
    return client, token


def _attacks(slug: str, class_id: int) -> list[tuple[str, dict]]:
    api = f"/api/t/{slug}"
    aliases = "{ " + " ".join(f"a{i}: classes {{ nodes {{ name }} }}" for i in range(3000)) + " }"
    deep = "[" * 100_000 + "]" * 100_000
    nested = '{"name": ' + "[" * 600 + "1" + "]" * 600 + "}"
    json_type = {"Content-Type": "application/json"}
    return [
        ("GraphQL, 3,000 aliases", {"method": "POST", "url": f"{api}/graphql", "json": {"query": aliases}}),
        ("GraphQL, a 2 MB query", {"method": "POST", "url": f"{api}/graphql",
                                   "json": {"query": "{ classes { nodes { name } } }" + " " * 2_000_000}}),
        ("JSON nested 100,000 deep", {"method": "POST", "url": f"{api}/companies", "content": deep,
                                      "headers": json_type}),
        ("JSON nested 600 deep", {"method": "POST", "url": f"{api}/things/classes", "content": nested,
                                  "headers": json_type}),
        ("YAML alias bomb", {"method": "POST", "url": f"/t/{slug}/extensions/validate",
                             "data": {"manifest": YAML_BOMB}}),
        ("a 4,300-digit number in YAML", {"method": "POST", "url": f"/t/{slug}/extensions/validate",
                                          "data": {"manifest": "pluginId: x\nn: " + "9" * 4300}}),
        ("catastrophic regex (a+)+$", {"method": "POST", "url": f"{api}/things/classes/{class_id}/things",
                                       "json": {"name": "a" * 190 + "!"}}),
    ]


def _poll(base: str, stop: threading.Event, samples: list[float]) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/healthz")
            samples.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)


def _attack(client: httpx.Client, attacks: list, offset: int, until: float, slowest: dict, lock: threading.Lock):
    i = offset
    while time.monotonic() < until:
        label, request = attacks[i % len(attacks)]
        started = time.perf_counter()
        try:
            status = client.request(**request).status_code
        except httpx.TransportError:
            status = "closed"  # a body over the size cap is refused before it is read: the server hangs up
        took = time.perf_counter() - started
        with lock:
            slowest["count"] += 1
            slowest.setdefault("kinds", {}).setdefault(label, []).append(took * 1000)
            if isinstance(status, int) and status >= 500:
                slowest["errors"].append(f"{label}: {status}")
            if took > slowest["worst"][0]:
                slowest["worst"] = (took, label, status)
        i += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rest", type=float, default=5.0)
    args = parser.parse_args()
    with servers("strata_abuse") as found:
        slug, email = _setup(found)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        process = _gunicorn(found, port)
        try:
            admin, _ = _signed_in(base, email)
            made = admin.post(f"/api/t/{slug}/things/classes",
                              json={"name": "Regex", "validation_rules": {"name_pattern": "(a+)+$"}})
            class_id = made.json()["id"]
            attacks = _attacks(slug, class_id)
            rest: list[float] = []
            stop = threading.Event()
            poller = threading.Thread(target=_poll, args=(base, stop, rest))
            poller.start()
            time.sleep(args.rest)
            stop.set()
            poller.join()

            clients = [_signed_in(base, email)[0] for _ in range(4)]
            attack: list[float] = []
            stop = threading.Event()
            slowest = {"worst": (0.0, "", 0), "count": 0, "errors": []}
            lock = threading.Lock()
            until = time.monotonic() + args.seconds
            poller = threading.Thread(target=_poll, args=(base, stop, attack))
            workers = [threading.Thread(target=_attack, args=(c, attacks, i * 2, until, slowest, lock))
                       for i, c in enumerate(clients)]
            poller.start()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            stop.set()
            poller.join()
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)

    took, label, status = slowest["worst"]
    ratio = p95(attack) / p95(rest)
    print(f"abuse over {found.label}: {slowest['count']} abusive requests in {args.seconds:g} s from 4 clients "
          f"({len(attacks)} kinds), {len(slowest['errors'])} answered 5xx; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs (figures from a busy machine mostly measure the machine)")
    print(f"slowest abusive answer: {took:.3f} s ({label}, {status}) — target < 1 s: {verdict(took < 1.0)}")
    print(f"/healthz p95: at rest {p95(rest):.1f} ms ({len(rest)} polls), during the attack {p95(attack):.1f} ms "
          f"({len(attack)} polls) = {ratio:.2f}× — target ≤ 2×: {verdict(ratio <= 2.0)}")
    for kind, times in sorted(slowest.get("kinds", {}).items()):
        median = sorted(times)[len(times) // 2]
        print(f"  {kind}: {len(times)} answers, median {median:.1f} ms, max {max(times):.1f} ms")
    if slowest["errors"]:
        print("5xx answers:", "; ".join(sorted(set(slowest["errors"]))[:10]))


if __name__ == "__main__":
    main()
