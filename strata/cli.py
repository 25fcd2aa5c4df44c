"""Command-line interface: `flask tenants …`, `flask demo`, `flask up` (`flask worker` and `flask cron`
live in `workers/cli.py`)."""

from __future__ import annotations

import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from strata.errors import NotFound, ValidationError

tenants_cli = AppGroup("tenants", help="Create, list, migrate and drop tenants.")


def _fail(message: str) -> None:
    click.secho(f"Error: {message}", fg="red", err=True)
    sys.exit(1)


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name of the tenant.")
@click.option("--admin", "admin_email", default=None, help="Email of an existing user to make its admin.")
def create_tenant(slug: str, name: str, admin_email: str | None) -> None:
    """Provision tenant SLUG: schema, role, grants and migrations, all or nothing."""
    from sqlalchemy import select

    from strata.accounts.models import User
    from strata.db import db
    from strata.tenancy.service import create_tenant as provision

    owner_id = None
    if admin_email:
        owner_id = db.session.scalar(select(User.id).where(User.email == admin_email.strip().lower()))
        if owner_id is None:
            _fail(f"no user with email {admin_email}")
    try:
        tenant = provision(slug, name, owner_id=owner_id)
    except ValidationError as exc:
        _fail("; ".join(f"{e.field}: {e.message}" for e in exc.errors))
    click.echo(f"Created tenant {tenant.slug} (schema {tenant.schema_name}, role {tenant.db_role}).")


@tenants_cli.command("spares")
@click.argument("number", type=click.IntRange(0, 1000))
def prepare_spares(number: int) -> None:
    """Build NUMBER spare tenant schemas, so the next sign-ups only rename one."""
    from strata.tenancy.service import prepare_spares as prepare

    started = time.perf_counter()
    built = prepare(number)
    click.echo(f"Built {built} spare tenant schemas in {time.perf_counter() - started:.1f} s.")


@tenants_cli.command("list")
def list_tenants() -> None:
    """List every tenant with its schema and member count."""
    from strata.tenancy.service import list_tenants as all_tenants
    from strata.tenancy.service import member_counts

    tenants, counts = all_tenants(), member_counts()
    if not tenants:
        click.echo("No tenants.")
        return
    click.echo(f"{'slug':<24} {'name':<30} {'schema':<32} {'members':>7}  status")
    for t in tenants:
        click.echo(f"{t.slug:<24} {t.name[:30]:<30} {t.schema_name:<32} {counts.get(t.id, 0):>7}  {t.status}")


@tenants_cli.command("migrate")
@click.option("--quiet", is_flag=True, help="Print only the totals.")
def migrate_tenants(quiet: bool) -> None:
    """Bring every tenant schema to the latest tenant migration."""
    from strata.tenancy.service import migrate_tenants as run

    started = time.perf_counter()

    def progress(slug: str, outcome: str) -> None:
        if not quiet:
            click.echo(f"  {slug}: {outcome}")

    report = run(progress=progress)
    elapsed = time.perf_counter() - started
    click.echo(
        f"{len(report.upgraded)} upgraded, {len(report.up_to_date)} already at head, "
        f"{len(report.failed)} failed in {elapsed:.2f}s."
    )
    for slug, error in report.failed.items():
        click.secho(f"  {slug}: {error}", fg="red", err=True)
    if report.failed:
        sys.exit(1)


@tenants_cli.command("drop")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Confirm: the schema and all its data are deleted.")
def drop_tenant(slug: str, yes: bool) -> None:
    """Delete tenant SLUG with its schema, data and role."""
    from strata.tenancy.service import drop_tenant as drop

    if not yes:
        _fail(f"dropping {slug} deletes all its data; repeat with --yes to confirm")
    try:
        drop(slug)
    except NotFound:
        _fail(f"no tenant {slug!r}")
    click.echo(f"Dropped tenant {slug}.")


@click.command("demo")
def demo() -> None:
    """Create the demo tenant `acme` and its demo user unless they exist; print the login."""
    from strata.demo import ensure_demo

    email, password = ensure_demo(current_app.instance_path)
    click.echo(f"Demo login: {email} / {password}")


@click.command("up")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def up(host: str, port: int) -> None:
    """Start everything: migrations, demo data, a worker with scheduler and the web server."""
    from strata.devstack import run_stack

    run_stack(current_app._get_current_object(), host, port)


def register_cli(app: Flask) -> None:
    app.cli.add_command(tenants_cli)
    from strata.accounts.cli import register as register_account_cli

    register_account_cli(app, tenants_cli)
    app.cli.add_command(demo)
    app.cli.add_command(up)
    from strata.extensions.cli import extensions_cli
    from strata.streams.cli import streams_cli

    app.cli.add_command(streams_cli)
    app.cli.add_command(extensions_cli)
