"""The members page: viewers read, only admins change membership, and a tenant always keeps an admin."""

import pytest
from sqlalchemy import select

from strata.accounts.models import Membership
from strata.audit import AuditLog
from strata.db import db
from strata.tenancy.service import tenant_context


def _membership(user, tenant) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.user_id == user.id,
                                                      Membership.tenant_id == tenant.id))


@pytest.mark.parametrize(("role", "can_change"), [("viewer", False), ("editor", False), ("admin", True)])
def test_only_admins_change_membership(client, login, make_tenant, make_user, role, can_change):
    tenant = make_tenant()
    other = make_user("other@example.com")
    login(tenant=tenant, role=role)
    page = client.get(f"/t/{tenant.slug}/members")
    assert page.status_code == 200
    assert ("Add a member" in page.get_data(as_text=True)) is can_change
    response = client.post(f"/t/{tenant.slug}/members", data={"email": other.email, "role": "editor"})
    assert (response.status_code == 302) is can_change
    if not can_change:
        assert response.status_code == 403
    assert (_membership(other, tenant) is not None) is can_change


def test_add_change_and_remove_member_are_audited(client, login, make_tenant, make_user):
    tenant = make_tenant()
    admin = login(tenant=tenant, role="admin")
    other = make_user("other@example.com")
    added = client.post(f"/t/{tenant.slug}/members", data={"email": "Other@Example.com", "role": "viewer"},
                        headers={"HX-Request": "true"})
    assert added.status_code == 200 and "other@example.com" in added.get_data(as_text=True)
    membership = _membership(other, tenant)
    assert membership.role == "viewer"
    changed = client.post(f"/t/{tenant.slug}/members/{membership.id}/role", data={"role": "editor"})
    assert changed.status_code == 302
    db.session.expire_all()
    assert _membership(other, tenant).role == "editor"
    removed = client.post(f"/t/{tenant.slug}/members/{membership.id}/delete")
    assert removed.status_code == 302
    assert _membership(other, tenant) is None
    with tenant_context(tenant.id):
        entries = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        assert [(e.action, e.user_id) for e in entries] == [("create", admin.id), ("update", admin.id),
                                                            ("delete", admin.id)]
        assert entries[1].changes == {"role": ["viewer", "editor"]}
    assert "other@example.com removed" in client.get(f"/t/{tenant.slug}/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"email": "nobody@example.com", "role": "viewer"}, "No account uses nobody@example.com"),
        ({"email": "bad", "role": "viewer"}, "Email must look like"),
        ({"email": "other@example.com", "role": "owner"}, "Role must be one of viewer, editor, admin."),
    ],
)
def test_bad_member_input_is_422_with_message(client, login, make_tenant, make_user, form, message):
    tenant = make_tenant()
    login(tenant=tenant, role="admin")
    make_user("other@example.com")
    response = client.post(f"/t/{tenant.slug}/members", data=form, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert db.session.query(Membership).filter_by(tenant_id=tenant.id).count() == 1


def test_existing_member_cannot_be_added_twice(client, login, make_tenant):
    tenant = make_tenant()
    admin = login(tenant=tenant, role="admin")
    response = client.post(f"/t/{tenant.slug}/members", data={"email": admin.email, "role": "viewer"})
    assert response.status_code == 422 and "already a member" in response.get_data(as_text=True)


def test_last_admin_cannot_be_demoted_or_removed(client, login, make_tenant, make_user):
    tenant = make_tenant()
    admin = login(tenant=tenant, role="admin")
    mine = _membership(admin, tenant)
    demote = client.post(f"/t/{tenant.slug}/members/{mine.id}/role", data={"role": "viewer"})
    assert demote.status_code == 422 and "last admin cannot be demoted" in demote.get_data(as_text=True)
    remove = client.post(f"/t/{tenant.slug}/members/{mine.id}/delete")
    assert remove.status_code == 422 and "last admin cannot be removed" in remove.get_data(as_text=True)
    db.session.expire_all()
    assert _membership(admin, tenant).role == "admin"
    # With a second admin, the first may step down.
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
