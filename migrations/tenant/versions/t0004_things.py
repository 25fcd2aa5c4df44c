"""Thing classes, attributes, relationship types, things and their links (seed 001).

Revision ID: t0004_things
Revises: t0003_extension_sort_indexes
Create Date: 2026-11-22

Follows seed 001 table for table, with these deliberate differences:

- ids are integers (things and links: bigint), like every other tenant table; `created_by` refers to
  public.users and becomes NULL when the user is removed (as in business objects);
- the seed's `CREATE INDEX CONCURRENTLY` lines are plain CREATE INDEX: they run in the migration's
  transaction on empty tables;
- the seed's row level security policies are left out: they compare current_schema() with the whole
  search_path (never equal, so they would hide every row) and the tenant role owns the tables, so RLS
  would not apply to it anyway; the schema and role isolation already keeps tenants apart;
- `thing_class_summary` and `thing_class_metrics` count attributes and things in subqueries (the
  seed's double LEFT JOIN multiplies one count by the other), and the summary has a unique index on
  id so that it can be refreshed CONCURRENTLY;
- `schema_storage_metrics` shows the current tenant's schema only (the seed's `LIKE 'tenant_%'`
  would list every tenant's tables to every tenant) and joins pg_class on the namespace too.

Rules the database holds besides the seed's: a link must join things of the classes its class
relationship names, within its cardinality (a trigger that locks the things involved, so two
concurrent links are serialised); a deactivated class accepts no new things (trigger).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "t0004_things"
down_revision = "t0003_extension_sort_indexes"
branch_labels = None
depends_on = None

DATA_TYPES = "('string', 'text', 'integer', 'decimal', 'boolean', 'date', 'datetime', 'enum', 'reference')"
CARDINALITIES = "('one_to_one', 'one_to_many', 'many_to_one', 'many_to_many')"


def _created_by(name: str, table: str) -> sa.Column:
    return sa.Column("created_by", sa.Integer, sa.ForeignKey("public.users.id", ondelete="SET NULL", name=name))


def _ts(updated: bool = True) -> list[sa.Column]:
    cols = [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())]
    if updated:
        cols.append(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))
    return cols


def _json(name: str, default: str = "'{}'::jsonb") -> sa.Column:
    return sa.Column(name, JSONB, nullable=False, server_default=sa.text(default))


def _active() -> sa.Column:
    return sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true())


def _thing_classes() -> None:
    op.create_table(
        "thing_classes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        _json("validation_rules"), _json("permissions"), *_ts(),
        _created_by("fk_thing_classes_created_by_users", "thing_classes"), _active(),
        sa.PrimaryKeyConstraint("id", name="pk_thing_classes"),
        sa.UniqueConstraint("name", name="unique_thing_class_name"),
        sa.CheckConstraint("validation_rules IS NULL OR jsonb_typeof(validation_rules) = 'object'",
                           name="valid_validation_rules_json"),
        sa.CheckConstraint("permissions IS NULL OR jsonb_typeof(permissions) = 'object'", name="valid_permissions_json"),
        sa.CheckConstraint("name IS NOT NULL AND trim(name) != ''", name="valid_thing_class_name"),
    )
    op.create_index("idx_thing_classes_active", "thing_classes", ["is_active"])
    op.create_index("idx_thing_classes_created_at", "thing_classes", ["created_at"])
    op.create_index("idx_thing_classes_name", "thing_classes", ["name"])
    op.create_index("idx_thing_classes_name_active", "thing_classes", ["name", "is_active"])
    op.create_index("idx_thing_classes_created_by_date", "thing_classes", ["created_by", "created_at"])
    op.create_index("idx_thing_classes_active_created", "thing_classes", ["is_active", sa.text("created_at DESC")])
    op.create_index("idx_thing_classes_validation_rules_gin", "thing_classes", ["validation_rules"],
                    postgresql_using="gin")
    op.create_index("idx_thing_classes_permissions_gin", "thing_classes", ["permissions"], postgresql_using="gin")
    # Case-insensitive name prefix search: `lower(name) COLLATE "C" LIKE 'abc%'` is a range of this index
    # (byte order), and the matches come out already sorted for `ORDER BY lower(name) COLLATE "C", id`.
    op.execute('CREATE INDEX idx_thing_classes_name_prefix ON thing_classes ((lower(name) COLLATE "C"), id)')


def _attributes() -> None:
    op.create_table(
        "attributes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("data_type", sa.String(20), nullable=False),
        _json("enum_values", "'[]'::jsonb"),
        _json("constraints"),
        sa.Column("reference_class_id", sa.Integer,
                  sa.ForeignKey("thing_classes.id", ondelete="RESTRICT", name="fk_attributes_reference_class")),
        *_ts(), _created_by("fk_attributes_created_by_users", "attributes"), _active(),
        sa.PrimaryKeyConstraint("id", name="pk_attributes"),
        sa.UniqueConstraint("name", name="unique_attribute_name"),
        sa.CheckConstraint("name ~ '^[a-z][a-z0-9_]{0,62}$'", name="valid_attribute_name"),
        sa.CheckConstraint("trim(label) != ''", name="valid_attribute_label"),
        sa.CheckConstraint(f"data_type IN {DATA_TYPES}", name="valid_attribute_data_type"),
        sa.CheckConstraint("jsonb_typeof(constraints) = 'object'", name="valid_attribute_constraints_json"),
        sa.CheckConstraint("jsonb_typeof(enum_values) = 'array'", name="valid_attribute_enum_values_json"),
        sa.CheckConstraint("data_type != 'enum' OR jsonb_array_length(enum_values) > 0",
                           name="valid_attribute_enum_has_values"),
        sa.CheckConstraint("(data_type = 'reference') = (reference_class_id IS NOT NULL)",
                           name="valid_attribute_reference_class"),
    )
    op.create_index("idx_attributes_data_type", "attributes", ["data_type"])
    op.create_index("idx_attributes_reference_class", "attributes", ["reference_class_id"])
    op.create_index("idx_attributes_constraints_gin", "attributes", ["constraints"], postgresql_using="gin")


def _attribute_assignments() -> None:
    op.create_table(
        "attribute_assignments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("thing_class_id", sa.Integer, nullable=False),
        sa.Column("attribute_id", sa.Integer, nullable=False),
        sa.Column("is_required", sa.Boolean, nullable=False, server_default=sa.false()),
        _json("assignment_rules"),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        *_ts(updated=False), _created_by("fk_attribute_assignments_created_by_users", "attribute_assignments"),
        _active(),
        sa.PrimaryKeyConstraint("id", name="pk_attribute_assignments"),
        sa.ForeignKeyConstraint(["thing_class_id"], ["thing_classes.id"], ondelete="CASCADE",
                                name="fk_assignment_thing_class"),
        sa.ForeignKeyConstraint(["attribute_id"], ["attributes.id"], name="fk_assignment_attribute"),
        sa.UniqueConstraint("thing_class_id", "attribute_id", name="unique_thing_class_attribute"),
        sa.CheckConstraint("assignment_rules IS NULL OR jsonb_typeof(assignment_rules) = 'object'",
                           name="valid_assignment_rules_json"),
    )
    for name, cols in (("idx_assignments_thing_class", ["thing_class_id"]),
                       ("idx_assignments_attribute", ["attribute_id"]),
                       ("idx_assignments_active", ["is_active"]),
                       ("idx_assignments_required", ["is_required"]),
                       ("idx_assignments_class_active", ["thing_class_id", "is_active"]),
                       ("idx_assignments_attr_required", ["attribute_id", "is_required"])):
        op.create_index(name, "attribute_assignments", cols)
    op.create_index("idx_assignments_rules_gin", "attribute_assignments", ["assignment_rules"], postgresql_using="gin")


def _relationship_types() -> None:
    op.create_table(
        "relationship_types",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("inverse_name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        *_ts(), _created_by("fk_relationship_types_created_by_users", "relationship_types"), _active(),
        sa.PrimaryKeyConstraint("id", name="pk_relationship_types"),
        sa.UniqueConstraint("name", name="unique_relationship_type_name"),
        sa.CheckConstraint("trim(name) != ''", name="valid_relationship_type_name"),
        sa.CheckConstraint("trim(inverse_name) != ''", name="valid_relationship_type_inverse_name"),
    )


def _class_relationships() -> None:
    op.create_table(
        "thing_class_relationships",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("from_thing_class_id", sa.Integer, nullable=False),
        sa.Column("to_thing_class_id", sa.Integer, nullable=False),
        sa.Column("relationship_type_id", sa.Integer, nullable=False),
        _json("cardinality_rules", """'{"type": "many_to_many"}'::jsonb"""),
        sa.Column("is_bidirectional", sa.Boolean, nullable=False, server_default=sa.false()),
        *_ts(updated=False),
        _created_by("fk_thing_class_relationships_created_by_users", "thing_class_relationships"), _active(),
        sa.PrimaryKeyConstraint("id", name="pk_thing_class_relationships"),
        sa.ForeignKeyConstraint(["from_thing_class_id"], ["thing_classes.id"], ondelete="CASCADE",
                                name="fk_class_rel_from"),
        sa.ForeignKeyConstraint(["to_thing_class_id"], ["thing_classes.id"], ondelete="CASCADE",
                                name="fk_class_rel_to"),
        sa.ForeignKeyConstraint(["relationship_type_id"], ["relationship_types.id"], name="fk_class_rel_type"),
        sa.UniqueConstraint("from_thing_class_id", "to_thing_class_id", "relationship_type_id",
                            name="unique_class_relationship"),
        sa.CheckConstraint("jsonb_typeof(cardinality_rules) = 'object'", name="valid_cardinality_rules_json"),
        sa.CheckConstraint(f"cardinality_rules->>'type' IN {CARDINALITIES}", name="valid_cardinality_type"),
    )
    for name, col in (("idx_class_rel_from", "from_thing_class_id"), ("idx_class_rel_to", "to_thing_class_id"),
                      ("idx_class_rel_type", "relationship_type_id"), ("idx_class_rel_active", "is_active")):
        op.create_index(name, "thing_class_relationships", [col])


def _things() -> None:
    op.create_table(
        "things",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("thing_class_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        _json("attribute_values"),
        sa.Column("is_deleted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("deleted_at", sa.DateTime(timezone=True)),
        _created_by("fk_things_created_by_users", "things"), *_ts(),
        sa.PrimaryKeyConstraint("id", name="pk_things"),
        sa.ForeignKeyConstraint(["thing_class_id"], ["thing_classes.id"], ondelete="CASCADE",
                                name="fk_things_thing_class"),
        sa.CheckConstraint("trim(name) != ''", name="valid_thing_name"),
        sa.CheckConstraint("jsonb_typeof(attribute_values) = 'object'", name="valid_attribute_values_json"),
        sa.CheckConstraint("is_deleted = (deleted_at IS NOT NULL)", name="valid_thing_deleted_at"),
    )
    op.create_index("idx_things_class_name", "things", ["thing_class_id", "name", "id"],
                    postgresql_where=sa.text("NOT is_deleted"))
    op.create_index("idx_things_class_deleted", "things", ["thing_class_id", "is_deleted"])
    op.create_index("idx_things_values_gin", "things", [sa.text("attribute_values jsonb_path_ops")],
                    postgresql_using="gin")
    op.create_table(
        "thing_relationships",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("class_relationship_id", sa.Integer, nullable=False),
        sa.Column("from_thing_id", sa.BigInteger, nullable=False),
        sa.Column("to_thing_id", sa.BigInteger, nullable=False),
        _created_by("fk_thing_relationships_created_by_users", "thing_relationships"), *_ts(updated=False),
        sa.PrimaryKeyConstraint("id", name="pk_thing_relationships"),
        sa.ForeignKeyConstraint(["class_relationship_id"], ["thing_class_relationships.id"], ondelete="CASCADE",
                                name="fk_thing_rel_class_relationship"),
        sa.ForeignKeyConstraint(["from_thing_id"], ["things.id"], ondelete="CASCADE", name="fk_thing_rel_from"),
        sa.ForeignKeyConstraint(["to_thing_id"], ["things.id"], ondelete="CASCADE", name="fk_thing_rel_to"),
        sa.UniqueConstraint("class_relationship_id", "from_thing_id", "to_thing_id", name="unique_thing_relationship"),
        sa.CheckConstraint("from_thing_id != to_thing_id", name="valid_thing_relationship_not_self"),
    )
    op.create_index("idx_thing_rel_from", "thing_relationships", ["from_thing_id", "class_relationship_id"])
    op.create_index("idx_thing_rel_to", "thing_relationships", ["to_thing_id", "class_relationship_id"])


TRIGGERS = """
CREATE FUNCTION update_updated_at_column() RETURNS trigger AS $$
BEGIN
  NEW.updated_at = NOW();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER update_thing_classes_updated_at BEFORE UPDATE ON thing_classes
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_attributes_updated_at BEFORE UPDATE ON attributes
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_relationship_types_updated_at BEFORE UPDATE ON relationship_types
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();
CREATE TRIGGER update_things_updated_at BEFORE UPDATE ON things
  FOR EACH ROW EXECUTE FUNCTION update_updated_at_column();

-- A deactivated class accepts no new things (and no thing moves into one).
CREATE FUNCTION things_class_must_be_active() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.thing_class_id IS DISTINCT FROM OLD.thing_class_id THEN
    PERFORM 1 FROM thing_classes WHERE id = NEW.thing_class_id AND is_active;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'thing class % is deactivated', NEW.thing_class_id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'thing_class_inactive';
    END IF;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER things_class_active BEFORE INSERT OR UPDATE OF thing_class_id ON things
  FOR EACH ROW EXECUTE FUNCTION things_class_must_be_active();

-- A link must fit its class relationship: the classes it names, and its cardinality. The things
-- involved are locked first (in id order), so concurrent links to the same things are serialised
-- and each one counts the links committed before it.
CREATE FUNCTION thing_relationships_check() RETURNS trigger AS $$
DECLARE
  rel thing_class_relationships%ROWTYPE;
  kind text;
  max_out int;
  n int;
BEGIN
  SELECT * INTO rel FROM thing_class_relationships WHERE id = NEW.class_relationship_id;
  IF NOT rel.is_active THEN
    RAISE EXCEPTION 'class relationship % is not active', rel.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'thing_link_inactive';
  END IF;
  PERFORM 1 FROM things WHERE id IN (NEW.from_thing_id, NEW.to_thing_id) ORDER BY id FOR NO KEY UPDATE;
  PERFORM 1 FROM things WHERE id = NEW.from_thing_id AND thing_class_id = rel.from_thing_class_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'thing % is not of the relationship''s source class', NEW.from_thing_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'thing_link_from_class';
  END IF;
  PERFORM 1 FROM things WHERE id = NEW.to_thing_id AND thing_class_id = rel.to_thing_class_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'thing % is not of the relationship''s target class', NEW.to_thing_id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'thing_link_to_class';
  END IF;
  kind := rel.cardinality_rules->>'type';
  max_out := (rel.cardinality_rules->>'max')::int;
  IF kind IN ('one_to_one', 'many_to_one') THEN
    max_out := 1;
  END IF;
  IF max_out IS NOT NULL THEN
    SELECT count(*) INTO n FROM thing_relationships
      WHERE class_relationship_id = rel.id AND from_thing_id = NEW.from_thing_id;
    IF n >= max_out THEN
      RAISE EXCEPTION 'thing % already has % link(s) of relationship %', NEW.from_thing_id, n, rel.id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'thing_link_max_targets';
    END IF;
  END IF;
  IF kind IN ('one_to_one', 'one_to_many') THEN
    PERFORM 1 FROM thing_relationships WHERE class_relationship_id = rel.id AND to_thing_id = NEW.to_thing_id;
    IF FOUND THEN
      RAISE EXCEPTION 'thing % already has a source for relationship %', NEW.to_thing_id, rel.id
        USING ERRCODE = 'check_violation', CONSTRAINT = 'thing_link_max_sources';
    END IF;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER thing_relationships_cardinality BEFORE INSERT ON thing_relationships
  FOR EACH ROW EXECUTE FUNCTION thing_relationships_check();
"""

VIEWS = """
CREATE MATERIALIZED VIEW thing_class_summary AS
SELECT
  tc.id,
  tc.name,
  tc.description,
  tc.is_active,
  (SELECT count(*) FROM attribute_assignments aa WHERE aa.thing_class_id = tc.id AND aa.is_active) AS attribute_count,
  coalesce(t.thing_count, 0) AS thing_count
FROM thing_classes tc
LEFT JOIN (SELECT thing_class_id, count(*) AS thing_count FROM things WHERE NOT is_deleted GROUP BY thing_class_id) t
  ON t.thing_class_id = tc.id
WHERE tc.is_active = true;
CREATE UNIQUE INDEX thing_class_summary_id ON thing_class_summary (id);
CREATE INDEX thing_class_summary_name ON thing_class_summary (name);
CREATE INDEX thing_class_summary_attribute_count ON thing_class_summary (attribute_count);

CREATE VIEW thing_class_metrics AS
SELECT
  tc.name,
  tc.created_at,
  (SELECT count(*) FROM things t WHERE t.thing_class_id = tc.id AND NOT t.is_deleted) AS instance_count,
  (SELECT count(*) FROM attribute_assignments aa WHERE aa.thing_class_id = tc.id AND aa.is_active) AS attribute_count,
  (SELECT max(t.updated_at) FROM things t WHERE t.thing_class_id = tc.id AND NOT t.is_deleted) AS last_instance_update
FROM thing_classes tc
WHERE tc.is_active = true;

CREATE VIEW schema_storage_metrics AS
SELECT
  pt.schemaname,
  pt.tablename,
  pg_size_pretty(pg_total_relation_size(c.oid)) AS size,
  pg_total_relation_size(c.oid) AS size_bytes,
  pg_stat_get_tuples_returned(c.oid) AS rows_read,
  pg_stat_get_tuples_inserted(c.oid) AS rows_inserted
FROM pg_tables pt
JOIN pg_namespace n ON n.nspname = pt.schemaname
JOIN pg_class c ON c.relname = pt.tablename AND c.relnamespace = n.oid
WHERE pt.schemaname = current_schema()
ORDER BY pg_total_relation_size(c.oid) DESC;
"""


def upgrade():
    _thing_classes()
    _attributes()
    _attribute_assignments()
    _relationship_types()
    _class_relationships()
    _things()
    op.execute(TRIGGERS)
    op.execute(VIEWS)


def downgrade():
    op.execute("DROP VIEW IF EXISTS schema_storage_metrics")
    op.execute("DROP VIEW IF EXISTS thing_class_metrics")
    op.execute("DROP MATERIALIZED VIEW IF EXISTS thing_class_summary")
    for table in ("thing_relationships", "things", "thing_class_relationships", "relationship_types",
                  "attribute_assignments", "attributes", "thing_classes"):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS thing_relationships_check()")
    op.execute("DROP FUNCTION IF EXISTS things_class_must_be_active()")
    op.execute("DROP FUNCTION IF EXISTS update_updated_at_column()")
