"""The members page: viewers read, only admins invite and change membership, a tenant always keeps an admin;
members join only by accepting an emailed invitation with the invited, verified address."""

import pytest
from sqlalchemy import select

from strata.accounts.models import Invitation, Membership, User
from strata.audit import AuditLog
from strata.db import db
from strata.tenancy.service import tenant_context
from tests.conftest import TEST_PASSWORD

GOOD = "amber lantern quietly"


def _membership(user, tenant) -> Membership | None:
    db.session.expire_all()
    return db.session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                      Membership.tenant_id == tenant.id))


def _invite(client, tenant, email, role="viewer"):
    return client.post(f"/t/{tenant.slug}/members", data={"email": email, "role": role})


@pytest.mark.parametrize(("role", "can_change"), [("viewer", False), ("editor", False), ("admin", True)])
def test_only_admins_invite(client, login, make_tenant, make_user, mailbox, role, can_change):
    tenant = make_tenant()
    login(tenant=tenant, role=role)
    page = client.get(f"/t/{tenant.slug}/members")
    assert page.status_code == 200
    assert ("Invite someone" in page.get_data(as_text=True)) is can_change
    response = _invite(client, tenant, "other@example.com", "editor")
    assert response.status_code == (302 if can_change else 403)
    assert (len(mailbox.to("other@example.com")) == 1) is can_change


def test_an_invitation_makes_a_member_only_when_the_holder_accepts(app, client, login, make_tenant, make_user,
                                                                  mailbox):
    tenant = make_tenant(name="Acme Ltd")
    admin = login(tenant=tenant, role="admin")
    other = make_user("other@example.com")
    added = client.post(f"/t/{tenant.slug}/members", data={"email": "Other@Example.com", "role": "editor"},
                        headers={"HX-Request": "true"})
    assert added.status_code == 200
    listed = added.get_data(as_text=True)
    assert 'id="invitations"' in listed and "other@example.com" in listed.split('id="invitations"')[1]
    assert _membership(other, tenant) is None
    link = mailbox.link("other@example.com", "/invitations/")
    assert "Acme Ltd" in mailbox.body(mailbox.to("other@example.com")[-1])

    invitee = app.test_client()
    shown = invitee.get(link)
    assert shown.status_code == 200 and "Sign in to accept" in shown.get_data(as_text=True)
    invitee.post("/login", data={"email": other.email, "password": TEST_PASSWORD})
    accepted = invitee.post(link)
    assert accepted.status_code == 302 and accepted.headers["Location"] == f"/t/{tenant.slug}/"
    assert _membership(other, tenant).role == "editor"
    assert invitee.post(link).status_code == 404  # used up
    assert 'id="invitations"' not in client.get(f"/t/{tenant.slug}/members").get_data(as_text=True)
    with tenant_context(tenant.id):
        entries = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        assert [(e.action, e.user_id) for e in entries] == [("create", admin.id), ("create", other.id)]


def test_an_invitation_accepted_by_another_account_is_refused(app, client, login, make_tenant, make_user, mailbox):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    intended = make_user("intended@example.com")
    wrong = make_user("wrong@example.com")
    _invite(client, tenant, intended.email)
    link = mailbox.link(intended.email, "/invitations/")
    other = app.test_client()
    other.post("/login", data={"email": wrong.email, "password": TEST_PASSWORD})
    refused = other.post(link)
    assert refused.status_code == 403 and "sent to intended@example.com" in refused.get_data(as_text=True)
    assert _membership(wrong, tenant) is None and _membership(intended, tenant) is None
    assert db.session.scalar(select(Invitation.accepted_at)) is None


def test_an_unverified_account_never_receives_a_membership(app, client, login, make_tenant, mailbox):
    from strata.accounts import invitations
    from strata.accounts.service import add_member
    from strata.errors import Forbidden, ValidationError

    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    # Someone registers the colleague's address first, without access to its mailbox.
    squatter = app.test_client()
    squatter.post("/signup", data={"email": "colleague@example.com", "password": GOOD})
    user = db.session.scalar(select(User).where(User.email == "colleague@example.com"))
    assert user.email_verified_at is None
    _invite(client, tenant, "colleague@example.com")
    link = mailbox.link("colleague@example.com", "/invitations/")
    squatter.post("/login", data={"email": "colleague@example.com", "password": GOOD})
    refused = squatter.post(link)
    assert refused.status_code == 403 and "Verify your email address" in refused.get_data(as_text=True)
    with pytest.raises(Forbidden):
        invitations.accept(link.rsplit("/", 1)[1], user)
    with pytest.raises(ValidationError, match="not verified"):
        add_member(tenant.id, "colleague@example.com", "viewer")
    assert _membership(user, tenant) is None


def test_signing_up_from_the_link_works_with_signup_closed(make_app, login, make_tenant, mailbox):
    app = make_app(SIGNUP_OPEN=False, MAIL_URL=mailbox.url)
    admin_client = app.test_client()
    tenant = make_tenant()
    from tests.conftest import TEST_PASSWORD as password

    admin = login(tenant=tenant, role="admin")
    admin_client.post("/login", data={"email": admin.email, "password": password})
    _invite(admin_client, tenant, "newcomer@example.com", "editor")
    token = mailbox.link("newcomer@example.com", "/invitations/").rsplit("/", 1)[1]

    newcomer = app.test_client()
    assert newcomer.get("/signup").status_code == 403
    form = newcomer.get(f"/signup?invitation={token}")
    assert form.status_code == 200 and 'value="newcomer@example.com"' in form.get_data(as_text=True)
    other = newcomer.post("/signup", data={"email": "someone@example.com", "password": GOOD, "invitation": token})
    assert other.status_code == 422 and "use the invited address" in other.get_data(as_text=True)
    assert db.session.scalar(select(User.id).where(User.email == "someone@example.com")) is None
    created = newcomer.post("/signup", data={"email": "newcomer@example.com", "password": GOOD, "invitation": token})
    assert created.status_code == 302 and created.headers["Location"] == f"/invitations/{token}"
    assert newcomer.post(f"/invitations/{token}").status_code == 302
    user = db.session.scalar(select(User).where(User.email == "newcomer@example.com"))
    assert user.email_verified_at is not None and _membership(user, tenant).role == "editor"


def test_pending_invitations_are_resent_and_revoked(app, client, login, make_tenant, make_user, mailbox):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    invitee = make_user("invitee@example.com")
    _invite(client, tenant, invitee.email)
    first = mailbox.link(invitee.email, "/invitations/")
    invitation_id = db.session.scalar(select(Invitation.id))
    assert _invite(client, tenant, invitee.email).status_code == 422  # already invited
    assert client.post(f"/t/{tenant.slug}/invitations/{invitation_id}/resend").status_code == 302
    second = mailbox.link(invitee.email, "/invitations/")
    assert second != first
    assert app.test_client().get(first).status_code == 404
    assert app.test_client().get(second).status_code == 200
    assert client.post(f"/t/{tenant.slug}/invitations/{invitation_id}/revoke").status_code == 302
    assert app.test_client().get(second).status_code == 404
    assert client.post(f"/t/{tenant.slug}/invitations/{invitation_id}/resend").status_code == 404


def test_another_tenants_invitation_is_404(client, login, make_tenant, make_user, mailbox):
    mine, theirs = make_tenant(), make_tenant()
    login(tenant=mine, role="admin")
    from strata.accounts import invitations

    foreign, _ = invitations.invite(theirs.id, "x@example.com", "viewer")
    assert client.post(f"/t/{mine.slug}/invitations/{foreign.id}/revoke").status_code == 404
    assert client.post(f"/t/{mine.slug}/invitations/{foreign.id}/resend").status_code == 404


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"email": "bad", "role": "viewer"}, "Email must look like"),
        ({"email": "other@example.com", "role": "owner"}, "Role must be one of viewer, editor, admin."),
    ],
)
def test_bad_invitation_input_is_422_with_message(client, login, make_tenant, mailbox, form, message):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    response = client.post(f"/t/{tenant.slug}/members", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(Invitation.id)) is None and mailbox.messages == []


def test_existing_member_cannot_be_invited(client, login, make_tenant):
    tenant = make_tenant()
    admin = login(tenant=tenant, role="admin")
    response = _invite(client, tenant, admin.email)
    assert response.status_code == 422 and "already a member" in response.get_data(as_text=True)


def test_change_and_remove_member_are_audited(client, login, make_tenant, make_user):
    tenant = make_tenant()
    admin = login(tenant=tenant, role="admin")
    other = make_user("other@example.com")
    membership = Membership(user_id=other.id, tenant_id=tenant.id, role="viewer")
    db.session.add(membership)
    db.session.commit()
    changed = client.post(f"/t/{tenant.slug}/members/{membership.id}/role", data={"role": "editor"})
    assert changed.status_code == 302
    assert _membership(other, tenant).role == "editor"
    removed = client.post(f"/t/{tenant.slug}/members/{membership.id}/delete")
    assert removed.status_code == 302
    assert _membership(other, tenant) is None
    with tenant_context(tenant.id):
        entries = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        assert [(e.action, e.user_id) for e in entries] == [("update", admin.id), ("delete", admin.id)]
        assert entries[0].changes == {"role": ["viewer", "editor"]}
    assert "other@example.com removed" in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)


def test_last_admin_cannot_be_demoted_or_removed(client, login, make_tenant, make_user):
    tenant = make_tenant()
    admin = login(tenant=tenant, role="admin")
    mine = _membership(admin, tenant)
    demote = client.post(f"/t/{tenant.slug}/members/{mine.id}/role", data={"role": "viewer"})
    assert demote.status_code == 422 and "last admin cannot be demoted" in demote.get_data(as_text=True)
    remove = client.post(f"/t/{tenant.slug}/members/{mine.id}/delete")
    assert remove.status_code == 422 and "last admin cannot be removed" in remove.get_data(as_text=True)
    assert _membership(admin, tenant).role == "admin"
    second = make_user()
    db.session.add(Membership(user_id=second.id, tenant_id=tenant.id, role="admin"))
    db.session.commit()
    assert client.post(f"/t/{tenant.slug}/members/{mine.id}/role", data={"role": "editor"}).status_code == 302


def test_membership_of_another_tenant_is_404(client, login, make_tenant, make_user):
    mine, theirs = make_tenant(), make_tenant()
    login(tenant=mine, role="admin")
    stranger = make_user()
    foreign = Membership(user_id=stranger.id, tenant_id=theirs.id, role="admin")
    db.session.add(foreign)
    db.session.commit()
    response = client.post(f"/t/{mine.slug}/members/{foreign.id}/delete")
    assert response.status_code == 404
    assert db.session.get(Membership, foreign.id) is not None
