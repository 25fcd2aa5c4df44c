"""People: users, tenant memberships and roles, sign-in with a failure rate limit."""
