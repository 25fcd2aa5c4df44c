"""Thing lists: the same pages whether the matches lie inside the first scan window (index walk) or
beyond it (GIN index), and case-insensitive class search by prefix with cursor pages."""

from sqlalchemy import text

from strata.db import db
from strata.things import query, schema
from strata.things.query import SCAN_WINDOW, Filter


def test_filters_find_matches_near_and_far(scoped, model, actors):
    cls = model.cls("Part")
    model.assign(cls, model.attr("colour", "string"))
    n = SCAN_WINDOW + 500
    # Static test SQL: every 10th part is red; only the last 3 parts (beyond the window) are blue.
    db.session.execute(text("""
        INSERT INTO things (thing_class_id, name, attribute_values)
        SELECT :c, 'part ' || lpad(g::text, 5, '0'),
               jsonb_build_object('colour', CASE WHEN g > :n - 3 THEN 'blue' WHEN g % 10 = 0 THEN 'red' ELSE 'grey' END)
        FROM generate_series(1, :n) g"""), {"c": cls.id, "n": n})
    model_ = schema.load_schema(actors["viewer"], cls.id)

    def names(filters, **kw):
        page = query.list_things(actors["viewer"], model_, filters, **kw)
        return [t.name for t in page.rows], page.next_cursor

    red, cursor = names([Filter("colour", "eq", "red")], limit=5)
    assert red == [f"part {i:05}" for i in (10, 20, 30, 40, 50)] and cursor
    more, _ = names([Filter("colour", "eq", "red")], limit=5, after=cursor)
    assert more == [f"part {i:05}" for i in (60, 70, 80, 90, 100)]
    blue, cursor = names([Filter("colour", "eq", "blue")])
    assert blue == [f"part {i:05}" for i in (n - 2, n - 1, n)] and cursor is None
    assert names([Filter("colour", "eq", "green")]) == ([], None)
    # a name search and a cursor narrow the window too: "part 001%" holds parts 100-199, ten of them red
    near, cursor = names([Filter("colour", "eq", "red")], q="part 001", limit=4)
    assert near == [f"part {i:05}" for i in (100, 110, 120, 130)]
    assert names([Filter("colour", "eq", "red")], q="part 001", limit=10, after=cursor)[0] == [
        f"part {i:05}" for i in (140, 150, 160, 170, 180, 190)]


def test_class_search_by_prefix_any_case_with_cursor(scoped, model, actors):
    for name in ("Device", "device_b", "Dev%ice", "Building", "DEVICE c"):
        model.cls(name)
    page = query.search_classes(actors["viewer"], "dev", limit=2)
    assert [c.name for c, _, _ in page.rows] == ["Dev%ice", "Device"]
    rest = query.search_classes(actors["viewer"], "dev", limit=2, after=page.next_cursor)
    assert [c.name for c, _, _ in rest.rows] == ["DEVICE c", "device_b"] and rest.next_cursor is None
    assert [c.name for c, _, _ in query.search_classes(actors["viewer"], "dev%").rows] == ["Dev%ice"]
