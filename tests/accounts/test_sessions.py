"""Sessions live on the server: sign-out, sign out everywhere, password changes, timeouts, remember tokens."""

from sqlalchemy import select, text

from strata.accounts.models import RememberToken, UserSession
from strata.db import db
from tests.conftest import TEST_PASSWORD

REMEMBER = "strata_remember"


def _login(client, user, remember=False):
    data = {"email": user.email, "password": TEST_PASSWORD}
    if remember:
        data["remember"] = "1"
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def _signed_in(client) -> bool:
    return client.get("/").status_code == 200


def _copy(cookie_name, source, target):
    target.set_cookie(cookie_name, source.get_cookie(cookie_name).value)


def test_a_copied_session_cookie_is_refused_after_sign_out(app, make_user):
    user = make_user()
    owner, thief = app.test_client(), app.test_client()
    _login(owner, user)
    _copy("session", owner, thief)
    assert _signed_in(thief)
    owner.post("/logout")
    assert not _signed_in(owner)
    assert not _signed_in(thief)
    tenantless_api = thief.get("/api/t/x/", headers={"Accept": "application/json"})
    assert tenantless_api.status_code == 401


def test_each_sign_in_is_its_own_session(app, make_user):
    user = make_user()
    first, second = app.test_client(), app.test_client()
    _login(first, user)
    _login(second, user)
    first.post("/logout")
    assert not _signed_in(first) and _signed_in(second)


def test_sign_out_everywhere_ends_every_other_browser(app, make_user):
    user = make_user()
    here, elsewhere, remembered = app.test_client(), app.test_client(), app.test_client()
    _login(here, user)
    _login(elsewhere, user)
    _login(remembered, user, remember=True)
    page = here.get("/account").get_data(as_text=True)
    assert "Sign out everywhere" in page
    response = here.post("/account/sign-out-everywhere")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    for client in (here, elsewhere):
        assert not _signed_in(client)
    remembered.delete_cookie("session")  # its remember cookie alone does not bring it back
    assert not _signed_in(remembered)
    assert db.session.scalar(select(UserSession.id).where(UserSession.ended_at.is_(None))) is None


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app, make_user):
    user = make_user()
    here, elsewhere = app.test_client(), app.test_client()
    _login(here, user)
    _login(elsewhere, user)
    wrong = here.post("/account/password", data={"current_password": "nope", "password": "amber lantern quietly"})
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(as_text=True)
    weak = here.post("/account/password", data={"current_password": TEST_PASSWORD, "password": "password1234"})
    assert weak.status_code == 422 and "too easy to guess" in weak.get_data(as_text=True)
    assert _signed_in(elsewhere)
    changed = here.post("/account/password", data={"current_password": TEST_PASSWORD,
                                                    "password": "amber lantern quietly"})
    assert changed.status_code == 302
    assert _signed_in(here) and not _signed_in(elsewhere)


def test_idle_and_absolute_timeouts_end_a_session(app, make_user):
    user = make_user()
    idle, old = app.test_client(), app.test_client()
    _login(idle, user)
    _login(old, user)
    rows = list(db.session.scalars(select(UserSession).order_by(UserSession.id)))
    idle_limit, absolute_limit = app.config["SESSION_IDLE_TIMEOUT"], app.config["SESSION_ABSOLUTE_TIMEOUT"]
    db.session.execute(text("UPDATE public.user_sessions SET last_seen_at = now() - make_interval(secs => :s) "
                            "WHERE id = :id"), {"s": idle_limit + 5, "id": rows[0].id})
    db.session.execute(text("UPDATE public.user_sessions SET created_at = now() - make_interval(secs => :s) "
                            "WHERE id = :id"), {"s": absolute_limit + 5, "id": rows[1].id})
    db.session.commit()
    assert not _signed_in(idle)
    assert not _signed_in(old)


def test_session_and_remember_cookies_are_samesite_and_httponly(app, make_user):
    client = app.test_client()
    response = _login(client, make_user(), remember=True)
    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session", REMEMBER):
        [cookie] = [c for c in cookies if c.startswith(f"{name}=")]
        assert "SameSite=Lax" in cookie and "HttpOnly" in cookie, cookie


def test_remember_tokens_rotate_on_use_and_an_old_one_is_refused(app, make_user):
    user = make_user()
    browser = app.test_client()
    _login(browser, user, remember=True)
    first = browser.get_cookie(REMEMBER).value

    # The session is gone (browser restarted): the remember cookie signs in and is replaced.
    restarted = app.test_client()
    restarted.set_cookie(REMEMBER, first)
    assert _signed_in(restarted)
    second = restarted.get_cookie(REMEMBER).value
    assert second != first

    stolen = app.test_client()
    stolen.set_cookie(REMEMBER, first)
    assert not _signed_in(stolen)
    assert stolen.get_cookie(REMEMBER) is None  # cleared

    # Still the same remembered browser, now under its new value.
    again = app.test_client()
    again.set_cookie(REMEMBER, second)
    assert _signed_in(again)
    token = db.session.scalar(select(RememberToken).where(RememberToken.user_id == user.id))
    assert token.last_used_at is not None and len(token.token_hash) == 64 and second not in token.token_hash


def test_a_replaced_remember_token_shown_late_revokes_the_whole_token(app, make_user):
    user = make_user()
    browser = app.test_client()
    _login(browser, user, remember=True)
    first = browser.get_cookie(REMEMBER).value
    owner = app.test_client()
    owner.set_cookie(REMEMBER, first)
    assert _signed_in(owner)
    current = owner.get_cookie(REMEMBER).value
    db.session.execute(text("UPDATE public.remember_tokens SET last_used_at = now() - interval '1 hour'"))
    db.session.commit()

    thief = app.test_client()
    thief.set_cookie(REMEMBER, first)
    assert not _signed_in(thief)
    later = app.test_client()
    later.set_cookie(REMEMBER, current)
    assert not _signed_in(later)  # two holders of one token: neither is trusted any more


def test_remember_tokens_are_listed_with_their_last_use_and_revocable(app, make_user):
    user, intruder = make_user(), make_user()
    browser = app.test_client()
    _login(browser, user, remember=True)
    value = browser.get_cookie(REMEMBER).value
    restarted = app.test_client()
    restarted.set_cookie(REMEMBER, value)
    page = restarted.get("/account").get_data(as_text=True)
    assert 'id="remember-tokens"' in page and "never" not in page.split('id="remember-tokens"')[1].split("</table>")[0]
    token_id = db.session.scalar(select(RememberToken.id).where(RememberToken.user_id == user.id))

    other = app.test_client()
    _login(other, intruder)
    assert other.post(f"/account/remember/{token_id}/revoke").status_code == 404

    kept = restarted.get_cookie(REMEMBER).value
    assert restarted.post(f"/account/remember/{token_id}/revoke").status_code == 302
    comeback = app.test_client()
    comeback.set_cookie(REMEMBER, kept)
    assert not _signed_in(comeback)


def test_sign_out_forgets_this_browser(app, make_user):
    browser = app.test_client()
    _login(browser, make_user(), remember=True)
    value = browser.get_cookie(REMEMBER).value
    browser.post("/logout")
    assert browser.get_cookie(REMEMBER) is None
    copy = app.test_client()
    copy.set_cookie(REMEMBER, value)
    assert not _signed_in(copy)
