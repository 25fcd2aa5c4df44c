"""Operator commands: `flask users create|set-password`, `flask tenants member`, `flask tokens create`."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from strata.errors import NotFound, ValidationError

users_cli = AppGroup("users", help="Create users and set their passwords.")
tokens_cli = AppGroup("tokens", help="Issue API tokens.")


def _fail(message: str) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(1)


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _user(email: str):
    from strata.accounts.service import find_user

    user = find_user(email)
    if user is None:
        _fail(f"no user with email {email}")
    return user


@users_cli.command("create")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--platform-admin", is_flag=True, help="Make the user a platform admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_user(email: str, name: str, platform_admin: bool, password_stdin: bool) -> None:
    """Create a verified user with EMAIL (the password is prompted for unless --password-stdin)."""
    from strata.accounts.service import create_user as create

    try:
        user = create(email, _password(password_stdin), name, hash_method=current_app.config["PASSWORD_HASH_METHOD"],
                      verified=True, platform_admin=True if platform_admin else None)
    except ValidationError as exc:
        _fail(_errors(exc))
    role = " (platform admin)" if user.is_platform_admin else ""
    click.echo(f"Created user {user.email}{role}.")


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def set_password(email: str, password_stdin: bool) -> None:
    """Set the password of EMAIL; every session of that user is signed out."""
    from strata.accounts import sessions
    from strata.accounts.service import set_password as store

    user = _user(email)
    try:
        store(user.id, _password(password_stdin), hash_method=current_app.config["PASSWORD_HASH_METHOD"])
    except ValidationError as exc:
        _fail(_errors(exc))
    ended = sessions.end_all(user.id)
    click.echo(f"Password of {user.email} set; {ended} session{'s' if ended != 1 else ''} signed out.")


@click.command("member")
@click.argument("slug")
@click.argument("email")
@click.option("--role", type=click.Choice(["admin", "editor", "viewer"]), default=None,
              help="The role to give (add or change).")
@click.option("--remove", is_flag=True, help="Remove the member instead.")
def member(slug: str, email: str, role: str | None, remove: bool) -> None:
    """Add EMAIL (a verified user) to tenant SLUG with --role, change their role, or --remove them."""
    from strata.accounts import service
    from strata.tenancy.service import get_tenant

    if remove == (role is not None):
        _fail("give either --role admin|editor|viewer or --remove")
    try:
        tenant_id = get_tenant(slug).id
    except NotFound:
        _fail(f"no tenant {slug!r}")
    user = _user(email)
    current = next((m for m in service.list_members(tenant_id) if m.user_id == user.id), None)
    try:
        if remove:
            if current is None:
                _fail(f"{user.email} is not a member of {slug}")
            service.remove_member(tenant_id, current.membership_id)
            click.echo(f"Removed {user.email} from {slug}.")
        elif current is None:
            service.add_member(tenant_id, user.email, role)
            click.echo(f"Added {user.email} to {slug} as {role}.")
        else:
            service.change_role(tenant_id, current.membership_id, role)
            click.echo(f"{user.email} is now {role} in {slug}.")
    except ValidationError as exc:
        _fail(_errors(exc))


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", required=True, help="What will use the token.")
def create_token(email: str, name: str) -> None:
    """Create an API token for EMAIL and print it (it is shown only now)."""
    from strata.accounts.tokens import create_token as create

    user = _user(email)
    try:
        _, plain = create(user.id, name)
    except ValidationError as exc:
        _fail(_errors(exc))
    click.echo(plain)


def register(app, tenants_cli: AppGroup) -> None:
    """Add the account commands to the app's CLI (`member` joins the `tenants` group)."""
    tenants_cli.add_command(member)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
