"""`flask streams …`: the simulator, a consumer or a host of many in the foreground, and one supervisor pass."""

from __future__ import annotations

import signal
import sys
import threading

import click
from flask.cli import AppGroup

TIMELINE_ANCHOR = 1_767_225_600.0  # 2026-01-01T00:00:00Z
streams_cli = AppGroup("streams", help="Companies House streams: simulator, consumer, supervisor.")


@streams_cli.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5055, type=int, show_default=True)
@click.option("--key", default="demo-stream-key", show_default=True, help="The one stream key accepted (else 401).")
@click.option("--rate", default=2.0, type=float, show_default=True, help="New events per second.")
@click.option("--backlog", default=1000, type=int, show_default=True, help="Events already published at start.")
@click.option("--heartbeat", default=30.0, type=float, show_default=True, help="Idle seconds per heartbeat.")
@click.option("--retention", default=1_000_000, type=int, show_default=True,
              help="Events kept for replay; an older timepoint gets 416.")
@click.option("--max-connections", default=10, type=int, show_default=True, help="Open streams per server before 429.")
@click.option("--disconnect-rate", default=0.0, type=float, show_default=True, help="Chance to end after an event.")
@click.option("--cut-rate", default=0.0, type=float, show_default=True, help="Chance a disconnect cuts a line in half.")
@click.option("--duplicate-rate", default=0.0, type=float, show_default=True)
@click.option("--malformed-rate", default=0.0, type=float, show_default=True)
@click.option("--delete-rate", default=0.02, type=float, show_default=True, help="Share of deleted events (no data).")
@click.option("--pool", default=5000, type=int, show_default=True, help="Distinct companies the events are about.")
@click.option("--seed", default=2, type=int, show_default=True)
@click.option("--pregenerate", is_flag=True, help="Render the backlog up front (benchmarks).")
@click.option("--pregenerate-streams", default="", help="Comma-separated stream types to pre-render (default all).")
def simulate(host: str, port: int, pregenerate_streams: str, **options) -> None:
    """Serve the streaming API protocol from generated company data until stopped."""
    from strata.streams.models import STREAM_PATHS
    from strata.streams.simulator import SimulatorConfig, SimulatorServer

    chosen = tuple(t for t in pregenerate_streams.split(",") if t) or tuple(STREAM_PATHS)
    if unknown := set(chosen) - set(STREAM_PATHS):
        raise click.BadParameter(f"unknown stream types: {', '.join(sorted(unknown))}",
                                 param_hint="--pregenerate-streams")
    options["pregenerate_streams"] = chosen

    # Timepoints follow the clock from a fixed anchor, so a restarted simulator continues the same timeline.
    server = SimulatorServer(SimulatorConfig(started=TIMELINE_ANCHOR, **options), host, port, quiet=False)
    click.echo(f"Stream simulator on {server.url} (all nine streams; key {options['key']!r}, "
               f"{options['backlog']} events published, {options['rate']}/s more)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


@streams_cli.command("consume")
@click.argument("slug")
@click.argument("stream_id", type=int)
@click.option("--lock-ttl", default=None, type=int, help="Seconds the consumer lock outlives us [STREAMS_LOCK_TTL].")
@click.option("--batch-size", default=1000, type=int, show_default=True)
def consume(slug: str, stream_id: int, lock_ttl: int | None, batch_size: int) -> None:
    """Run the consumer of stream STREAM_ID of tenant SLUG in the foreground until stopped or disabled."""
    from flask import current_app

    from strata.errors import NotFound
    from strata.streams.consumer import Consumer, ConsumerSettings
    from strata.tenancy.service import get_tenant, tenant_context

    try:
        tenant = get_tenant(slug)
    except NotFound:
        raise click.ClickException(f"no tenant {slug!r}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with tenant_context(tenant):
        overrides = {"lock_ttl": lock_ttl, "check_interval": min(2.0, lock_ttl / 3)} if lock_ttl else {}
        settings = ConsumerSettings.from_config(current_app.config, batch_size=batch_size, **overrides)
        reason = Consumer(stream_id, settings, stop).run()
    click.echo(f"Consumer stopped: {reason}")


@streams_cli.command("host")
@click.option("--slot", default=0, type=int, show_default=True, help="The host slot whose lock this process holds.")
@click.option("--capacity", default=None, type=int, help="Most streams run here [STREAMS_PER_WORKER].")
@click.option("--batch-size", default=1000, type=int, show_default=True)
def host(slot: int, capacity: int | None, batch_size: int) -> None:
    """Run the consumers of every wanted stream (up to CAPACITY) in this process until stopped."""
    from flask import current_app

    from strata.streams.consumer import ConsumerSettings
    from strata.streams.host import Host

    app = current_app._get_current_object()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    settings = ConsumerSettings.from_config(app.config, batch_size=batch_size)
    reason = Host(app, slot, capacity or int(app.config.get("STREAMS_PER_WORKER", 500)), settings, stop).run()
    click.echo(f"Host stopped: {reason}")


@streams_cli.command("supervise")
def supervise() -> None:
    """Want every enabled stream run and enqueue hosts where needed (what the periodic job does)."""
    from strata.streams.supervisor import ensure_all

    for slug, waiting in ensure_all().items():
        click.echo(f"{slug}: {len(waiting)} stream(s) waiting for a host")
