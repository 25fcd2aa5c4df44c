"""A tenant's database role sees only its own members of the platform's people, never their secrets."""

import pytest
from sqlalchemy import text

from strata.db import db
from strata.tenancy.service import tenant_context


def _denied(statement):
    with pytest.raises(Exception, match="permission denied"):
        with db.session.begin_nested():
            db.session.execute(text(statement))


def test_raw_selects_under_the_tenant_role_see_only_its_own_members(make_user, make_tenant):
    alice, bob, carol = make_user("alice@example.com"), make_user("bob@example.com"), make_user("carol@example.com")
    acme = make_tenant("acme", members={alice: "admin", bob: "viewer"})
    make_tenant("globex", members={carol: "admin"})
    with tenant_context(acme.id):
        emails = db.session.execute(text("SELECT email FROM public.users ORDER BY email")).scalars().all()
        assert emails == ["alice@example.com", "bob@example.com"]
        assert db.session.execute(text("SELECT count(*) FROM public.users WHERE email = 'carol@example.com'")
                                  ).scalar() == 0
        members = db.session.execute(text("SELECT email, role FROM public.tenant_members ORDER BY email")).all()
        assert members == [("alice@example.com", "admin"), ("bob@example.com", "viewer")]
        for statement in ("SELECT * FROM public.users", "SELECT password_hash FROM public.users",
                          "SELECT totp_secret FROM public.users", "SELECT recovery_code_hashes FROM public.users",
                          "SELECT * FROM public.memberships", "SELECT * FROM public.user_sessions",
                          "SELECT * FROM public.remember_tokens", "SELECT * FROM public.invitations",
                          "UPDATE public.users SET name = 'x'"):
            _denied(statement)


def test_a_tenant_without_members_sees_no_one(make_user, make_tenant):
    make_tenant("acme", members={make_user(): "admin"})
    empty = make_tenant("empty")
    with tenant_context(empty.id):
        assert db.session.execute(text("SELECT count(*) FROM public.users")).scalar() == 0
        assert db.session.execute(text("SELECT count(*) FROM public.tenant_members")).scalar() == 0
