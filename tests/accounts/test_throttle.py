"""Failed sign-ins slow down the attacker with growing delays; the owner at a fresh address waits briefly at most."""

import time

from strata.accounts.ratelimit import LoginThrottle
from strata.core import queues
from tests.conftest import TEST_PASSWORD


def _at(app, address):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _attempt(client, email, password):
    return client.post("/login", data={"email": email, "password": password})


def test_delays_grow_per_account_and_address(app, monkeypatch):
    now = [1_000_000.0]
    monkeypatch.setattr(time, "time", lambda: now[0])
    throttle = LoginThrottle(queues.connection, max_failures=3, window_seconds=3600, max_delay=900,
                             account_max_delay=5)
    waits = []
    for _ in range(8):
        waits.append(throttle.retry_after("victim@example.com", "10.0.0.1"))
        throttle.failed("victim@example.com", "10.0.0.1")
    waits.append(throttle.retry_after("victim@example.com", "10.0.0.1"))
    assert waits == [0, 0, 0, 1, 2, 4, 8, 16, 32]
    now[0] += 32
    assert throttle.retry_after("victim@example.com", "10.0.0.1") == 0
    # Another address, same account: only the account-wide delay, which is capped at a few seconds.
    assert throttle.retry_after("victim@example.com", "10.9.9.9") <= 5


def test_the_attacker_is_slowed_and_the_owner_from_a_fresh_address_is_not_locked_out(app, make_user):
    owner = make_user("owner@example.com")
    attacker = _at(app, "203.0.113.7")
    statuses = [_attempt(attacker, owner.email, f"guess number {i}").status_code for i in range(12)]
    assert statuses[:app.config["LOGIN_MAX_FAILURES"]] == [401] * app.config["LOGIN_MAX_FAILURES"]
    assert 429 in statuses
    blocked = _attempt(attacker, owner.email, TEST_PASSWORD)  # the right password from there is delayed too
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.get_data(as_text=True)
    assert int(blocked.headers["Retry-After"]) >= 1

    # Many more failures from many addresses against the same account.
    for n in range(40):
        _attempt(_at(app, f"198.51.100.{n}"), owner.email, "still guessing")
    fresh = _at(app, "192.0.2.55")
    started = time.monotonic()
    response = _attempt(fresh, owner.email, TEST_PASSWORD)
    while response.status_code == 429:
        wait = int(response.headers["Retry-After"])
        assert wait <= app.config["LOGIN_ACCOUNT_MAX_DELAY"]
        time.sleep(wait)
        response = _attempt(fresh, owner.email, TEST_PASSWORD)
    assert response.status_code == 302
    assert time.monotonic() - started <= app.config["LOGIN_ACCOUNT_MAX_DELAY"] + 2
    assert fresh.get("/").status_code == 200


def test_another_account_at_the_same_address_is_not_delayed(app, make_user):
    make_user("person@example.com")
    other = make_user("other@example.com")
    client = _at(app, "203.0.113.8")
    for _ in range(app.config["LOGIN_MAX_FAILURES"] + 1):
        _attempt(client, "person@example.com", "nope")
    assert _attempt(client, "person@example.com", TEST_PASSWORD).status_code == 429
    assert _attempt(client, other.email, TEST_PASSWORD).status_code == 302


def test_a_good_sign_in_clears_the_accounts_failures(app, make_user):
    user = make_user("person@example.com")
    client = _at(app, "203.0.113.9")
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        _attempt(client, user.email, "nope")
    assert _attempt(client, user.email, TEST_PASSWORD).status_code == 302
    client.post("/logout")
    _attempt(client, user.email, "nope")
    assert _attempt(client, user.email, TEST_PASSWORD).status_code == 302
