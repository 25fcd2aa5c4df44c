"""People: users, sessions and remember tokens, email verification, passwords, sign-in delays, two-factor,
tenant memberships by invitation, API tokens and the operator commands."""
