"""`flask extensions …`: install a manifest file, list a tenant's extensions, verify checksums, apply, roll back."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from strata.errors import NotFound, ValidationError

extensions_cli = AppGroup("extensions", help="Install, list, verify, apply and roll back a tenant's extensions.")


def _tenant(slug: str):
    from strata.tenancy.service import get_tenant

    try:
        return get_tenant(slug)
    except NotFound:
        click.secho(f"Error: no tenant {slug!r}", fg="red", err=True)
        sys.exit(1)


@extensions_cli.command("list")
@click.argument("slug")
def list_command(slug: str) -> None:
    """Show the extensions of tenant SLUG: registered and installed versions, status."""
    from strata.extensions import registry
    from strata.tenancy.service import tenant_context

    with tenant_context(_tenant(slug).id):
        for row in registry.list_schemas():
            enabled = "" if row.enabled else " (disabled)"
            click.echo(f"{row.plugin_id}\t{row.version}\tinstalled {row.applied_version or '-'}\t{row.status}{enabled}")


@extensions_cli.command("verify")
@click.argument("slug")
def verify_command(slug: str) -> None:
    """Check every migration record of tenant SLUG against its checksums; exit 1 if any was changed."""
    from strata.extensions import executor, registry
    from strata.tenancy.service import tenant_context

    changed = 0
    with tenant_context(_tenant(slug).id):
        for row in registry.list_schemas():
            for migration in registry.migrations(row.plugin_id):
                problems = executor.verify(migration)
                changed += bool(problems)
                verdict = "; ".join(p.message for p in problems) or "ok"
                click.echo(f"{row.plugin_id}\t{migration.migration_id}\t{migration.status}\t{verdict}")
    if changed:
        sys.exit(1)


@extensions_cli.command("install")
@click.argument("slug")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False))
@click.option("--allow-destructive", is_flag=True, help="Allow an upgrade that drops or narrows (data is backed up).")
@click.option("--plan-only", is_flag=True, help="Register and plan the migration; do not apply it.")
def install_command(slug: str, manifest: str, allow_destructive: bool, plan_only: bool) -> None:
    """Register the JSON or YAML MANIFEST in tenant SLUG (an upgrade if its plugin is registered) and apply it."""
    from strata.extensions import registry
    from strata.extensions.manifest import parse
    from strata.tenancy.service import tenant_context

    with open(manifest, "rb") as handle:
        source = handle.read()
    try:
        with tenant_context(_tenant(slug).id):
            plugin_id = parse(source).pluginId
            known = plugin_id in {row.plugin_id for row in registry.list_schemas()}
            if known:
                _, migration = registry.upgrade(plugin_id, source, actor="cli", allow_destructive=allow_destructive)
            else:
                _, migration = registry.register(source, actor="cli", allow_destructive=allow_destructive)
            click.echo(f"{plugin_id}: migration {migration.migration_id} planned")
    except ValidationError as exc:
        for error in exc.errors:
            click.secho(f"Error: {error.message} ({error.field}, rule {error.rule})", fg="red", err=True)
        sys.exit(1)
    if not plan_only:
        _run(slug, lambda executor: executor.execute(plugin_id))


@extensions_cli.command("apply")
@click.argument("slug")
@click.argument("plugin_id")
def apply_command(slug: str, plugin_id: str) -> None:
    """Apply PLUGIN_ID's pending migration in tenant SLUG (reports one already applied)."""
    _run(slug, lambda executor: executor.execute(plugin_id))


@extensions_cli.command("rollback")
@click.argument("slug")
@click.argument("plugin_id")
@click.argument("migration_id")
def rollback_command(slug: str, plugin_id: str, migration_id: str) -> None:
    """Roll back MIGRATION_ID (the installed one) of PLUGIN_ID in tenant SLUG."""
    _run(slug, lambda executor: executor.rollback(plugin_id, migration_id))


def _run(slug: str, action) -> None:
    from strata.extensions import executor
    from strata.tenancy.service import tenant_context

    try:
        with tenant_context(_tenant(slug).id):
            outcome = action(executor)
    except (ValidationError, NotFound) as exc:
        click.secho(f"Error: {exc or 'not found'}", fg="red", err=True)
        sys.exit(1)
    click.echo(outcome.message)


@extensions_cli.command("reference")
@click.argument("slug")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to this file.")
def reference_command(slug: str, output: str | None) -> None:
    """Print (or write) the extensions API reference from tenant SLUG's OpenAPI document, as Markdown."""
    from strata.extensions import openapi, reference, runtime
    from strata.tenancy.service import tenant_context

    tenant = _tenant(slug)
    with tenant_context(tenant.id):
        document = openapi.build(openapi.app_routes(), runtime.current(), title=f"Strata API · {tenant.name}",
                                 server=f"/api/t/{slug}")
    text = reference.markdown(document)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
        click.echo(f"Wrote {output}")
    else:
        click.echo(text)
