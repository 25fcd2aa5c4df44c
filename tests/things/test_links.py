"""Links between things: only where a class relationship allows them, within its cardinality, also when
requests race (the database trigger locks the things involved), and traversal both ways."""

import threading

import pytest
from sqlalchemy import func, select

from strata.db import db
from strata.errors import ValidationError
from strata.tenancy.service import tenant_context
from strata.things import query, service
from strata.things.models import ThingLink


def _refusal(call, *args):
    with pytest.raises(ValidationError) as exc:
        call(*args)
    return [(e.field, e.rule, e.message) for e in exc.value.errors]


@pytest.fixture
def net(scoped, model):
    rack, server, rtype = model.cls("Rack"), model.cls("Server"), model.rtype("holds", "is held by")
    return rack, server, rtype


def test_only_where_a_class_relationship_allows(net, model, actors):
    rack, server, rtype = net
    rel = model.relate(rack, server, rtype)
    r, s = model.thing(rack, "r"), model.thing(server, "s")
    assert _refusal(service.link, actors["editor"], rel.id, s.id, r.id) == [
        ("from_thing_id", "class", "s is not of the relationship's source class."),
        ("to_thing_id", "class", "r is not of the relationship's target class.")]
    assert _refusal(service.link, actors["editor"], rel.id, r.id, 999999) == [
        ("to_thing_id", "exists", "Choose an existing thing.")]
    service.link(actors["editor"], rel.id, r.id, s.id)
    assert _refusal(service.link, actors["editor"], rel.id, r.id, s.id) == [
        ("to_thing_id", "unique", "r is already linked to s this way.")]


def test_self_link_refused(net, model, actors):
    rack, _, rtype = net
    rel = model.relate(rack, rack, rtype)
    r = model.thing(rack, "r")
    assert _refusal(service.link, actors["editor"], rel.id, r.id, r.id)[0][1] == "self"


@pytest.mark.parametrize("kind, links, refused", [
    ("one_to_one", [("r1", "s1"), ("r1", "s2"), ("r2", "s1")], ["max_targets", "single_source"]),
    ("one_to_many", [("r1", "s1"), ("r1", "s2"), ("r2", "s1")], ["single_source"]),
    ("many_to_one", [("r1", "s1"), ("r1", "s2"), ("r2", "s1")], ["max_targets"]),
    ("many_to_many", [("r1", "s1"), ("r1", "s2"), ("r2", "s1")], []),
])
def test_cardinality(net, model, actors, kind, links, refused):
    rack, server, rtype = net
    rel = model.relate(rack, server, rtype, kind)
    things = {n: model.thing(rack, n) for n in ("r1", "r2")} | {n: model.thing(server, n) for n in ("s1", "s2")}
    outcomes = []
    for source, target in links:
        try:
            service.link(actors["editor"], rel.id, things[source].id, things[target].id)
        except ValidationError as exc:
            message = exc.errors[0].message
            outcomes.append("max_targets" if "at most" in message else "single_source")
    assert outcomes == refused


def test_max_and_min(net, model, actors):
    rack, server, rtype = net
    rel = model.relate(rack, server, rtype, "many_to_many", min=1, max=2)
    r = model.thing(rack, "r")
    s = [model.thing(server, f"s{i}") for i in range(3)]
    first = service.link(actors["editor"], rel.id, r.id, s[0].id)
    with pytest.raises(ValidationError) as exc:
        service.unlink(actors["editor"], first.id)
    assert exc.value.errors[0].message == "r needs at least 1 link(s) of this relationship."
    service.link(actors["editor"], rel.id, r.id, s[1].id)
    assert _refusal(service.link, actors["editor"], rel.id, r.id, s[2].id) == [
        ("to_thing_id", "cardinality", "r may have at most 2 link(s) of this relationship (many-to-many).")]
    service.unlink(actors["editor"], first.id)


def test_traversal_both_ways_only_for_bidirectional(net, model, actors):
    rack, server, rtype = net
    both = model.relate(rack, server, rtype, bidirectional=True)
    one_way = model.relate(server, rack, model.rtype("cools", "cooled by"))
    r, s = model.thing(rack, "r"), model.thing(server, "s")
    service.link(actors["editor"], both.id, r.id, s.id)
    service.link(actors["editor"], one_way.id, s.id, r.id)
    seen = query.related(actors["viewer"], [r.id, s.id])
    assert sorted((x.label, x.other.name, x.outgoing) for x in seen.of(r.id)) == [("holds", "s", True)]
    assert sorted((x.label, x.other.name, x.outgoing) for x in seen.of(s.id)) == [
        ("cools", "r", True), ("is held by", "r", False)]


def _link_in_thread(app, tenant_id, actor, rel_id, source, target, results, started=None, hold=None, linked=None):
    with app.app_context():
        try:
            with tenant_context(tenant_id):
                if started is not None:
                    started.wait()
                made = service.link(actor, rel_id, source, target)
                if linked is not None:
                    linked.set()
                if hold is not None:
                    hold.wait(10)
                results.append(("ok", made.id))
        except ValidationError as exc:
            results.append(("refused", exc.errors[0].message))
        finally:
            db.session.remove()


def _setup_race(app, tenant, model, kind, **cardinality):
    with tenant_context(tenant.id):
        rack, server = model.cls("Rack"), model.cls("Server")
        rel = model.relate(rack, server, model.rtype("holds", "is held by"), kind, **cardinality)
        racks = [model.thing(rack, f"r{i}").id for i in range(4)]
        servers = [model.thing(server, f"s{i}").id for i in range(4)]
        return rel.id, racks, servers


def test_two_concurrent_links_to_a_one_to_one_target(app, tenant, model, actors):
    """The first link is written but not committed when the second starts: the second passes the domain's
    check (it cannot see the first), then waits on the trigger's lock and is refused once the first commits."""
    rel, racks, servers = _setup_race(app, tenant, model, "one_to_one")
    results, hold, linked = [], threading.Event(), threading.Event()
    first = threading.Thread(target=_link_in_thread, args=(app, tenant.id, actors["editor"], rel, racks[0],
                                                           servers[0], results, None, hold, linked))
    first.start()
    assert linked.wait(10), "the first link should be written"
    second = threading.Thread(target=_link_in_thread,
                              args=(app, tenant.id, actors["editor"], rel, racks[1], servers[0], results))
    second.start()
    second.join(1.0)
    assert second.is_alive(), "the second link should wait for the first's lock"
    hold.set()
    first.join(10)
    second.join(10)
    assert sorted(r[0] for r in results) == ["ok", "refused"]
    assert ("refused", "The target thing is already linked from another thing by this relationship.") in results
    with tenant_context(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ThingLink)) == 1


def test_concurrent_links_fill_a_max_exactly(app, tenant, model, actors):
    """Four requests race for a source allowed two links: exactly two succeed."""
    rel, racks, servers = _setup_race(app, tenant, model, "many_to_many", max=2)
    results, start = [], threading.Barrier(4)
    threads = [threading.Thread(target=_link_in_thread,
                                args=(app, tenant.id, actors["editor"], rel, racks[0], servers[i], results, start))
               for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert sorted(r[0] for r in results) == ["ok", "ok", "refused", "refused"]
    with tenant_context(tenant.id):
        assert db.session.scalar(select(func.count()).select_from(ThingLink)) == 2
    print(f"\nconcurrent links for max=2: {[r[0] for r in results]}")
