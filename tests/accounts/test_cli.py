"""Operator commands: users, their passwords, tenant members and API tokens."""

from sqlalchemy import select

from strata.accounts.models import ApiToken, Membership, User
from strata.db import db
from tests.conftest import TEST_PASSWORD


def _user(email):
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_users_create_makes_a_verified_user_from_stdin(runner, client):
    result = runner.invoke(args=["users", "create", "ops@example.com", "--name", "Ops", "--platform-admin",
                                 "--password-stdin"], input=f"{TEST_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    user = _user("ops@example.com")
    assert user.is_platform_admin and user.email_verified_at is not None and user.name == "Ops"
    assert client.post("/login", data={"email": "ops@example.com", "password": TEST_PASSWORD}).status_code == 302
    assert client.get("/admin/tenants").status_code == 200

    again = runner.invoke(args=["users", "create", "ops@example.com", "--password-stdin"], input=f"{TEST_PASSWORD}\n")
    assert again.exit_code == 1 and "already exists" in again.output
    weak = runner.invoke(args=["users", "create", "new@example.com", "--password-stdin"], input="password\n")
    assert weak.exit_code == 1 and "at least 12 characters" in weak.output and _user("new@example.com") is None


def test_set_password_replaces_it_and_signs_out(runner, client, make_user):
    user = make_user("person@example.com")
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    result = runner.invoke(args=["users", "set-password", user.email, "--password-stdin"],
                           input="amber lantern quietly\n")
    assert result.exit_code == 0, result.output
    assert client.get("/").status_code == 302
    assert client.post("/login", data={"email": user.email, "password": "amber lantern quietly"}).status_code == 302
    missing = runner.invoke(args=["users", "set-password", "nobody@example.com", "--password-stdin"], input="x\n")
    assert missing.exit_code == 1 and "no user" in missing.output


def test_tenants_member_adds_changes_and_removes(runner, make_user, make_tenant):
    tenant = make_tenant("acme")
    user = make_user("person@example.com")
    make_user("boss@example.com")
    runner.invoke(args=["tenants", "member", "acme", "boss@example.com", "--role", "admin"])

    def role():
        db.session.expire_all()
        return db.session.scalar(select(Membership.role).where(Membership.user_id == user.id,
                                                               Membership.tenant_id == tenant.id))

    assert runner.invoke(args=["tenants", "member", "acme", user.email, "--role", "viewer"]).exit_code == 0
    assert role() == "viewer"
    assert runner.invoke(args=["tenants", "member", "acme", user.email, "--role", "editor"]).exit_code == 0
    assert role() == "editor"
    assert runner.invoke(args=["tenants", "member", "acme", user.email, "--remove"]).exit_code == 0
    assert role() is None
    bad = runner.invoke(args=["tenants", "member", "acme", user.email, "--role", "owner"])
    assert bad.exit_code == 2
    assert runner.invoke(args=["tenants", "member", "nope", user.email, "--role", "viewer"]).exit_code == 1
    assert runner.invoke(args=["tenants", "member", "acme", user.email]).exit_code == 1


def test_tenants_member_refuses_an_unverified_account(runner, make_tenant):
    from strata.accounts.service import create_user

    make_tenant("acme")
    create_user("squatter@example.com", TEST_PASSWORD, verified=False, hash_method="pbkdf2:sha256:1000")
    result = runner.invoke(args=["tenants", "member", "acme", "squatter@example.com", "--role", "viewer"])
    assert result.exit_code == 1 and "not verified" in result.output
    assert db.session.scalar(select(Membership.id)) is None


def test_tokens_create_prints_a_working_token_once(runner, app, make_user, make_tenant):
    user = make_user("script@example.com")
    tenant = make_tenant(members={user: "viewer"})
    result = runner.invoke(args=["tokens", "create", user.email, "--name", "nightly export"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.startswith("strata_")
    assert db.session.scalar(select(ApiToken.name)) == "nightly export"
    response = app.test_client().get(f"/api/t/{tenant.slug}/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
