import pytest

from strata.errors import ValidationError
from strata.tenancy.slugs import role_name, role_prefix_for, schema_name, validate_slug


@pytest.mark.parametrize("slug", ["acme", "a", "acme_2", "x" * 40, "a1_b2"])
def test_valid_slugs_pass(slug):
    assert validate_slug(slug) == slug


@pytest.mark.parametrize(
    ("slug", "rule", "words"),
    [
        ("", "required", "required"),
        ("Acme", "pattern", "capital"),
        ("ac me", "pattern", "a space"),
        ("acme'", "pattern", "a quote"),
        ('ac"me', "pattern", "a double quote"),
        ("acme;drop", "pattern", "a semicolon"),
        ("ac-me", "pattern", "a hyphen"),
        ("1acme", "pattern", "start with a lowercase letter"),
        ("_acme", "pattern", "start with a lowercase letter"),
        ("x" * 41, "max_length", "at most 40"),
        ("public", "reserved", "reserved"),
        ("information_schema", "reserved", "reserved"),
        ("pg_catalog", "reserved", "reserved"),
        ("pg_anything", "reserved", "reserved"),
    ],
)
def test_bad_slugs_name_field_and_rule(slug, rule, words):
    with pytest.raises(ValidationError) as caught:
        validate_slug(slug)
    (error,) = caught.value.errors
    assert error.field == "slug"
    assert error.rule == rule
    assert words in error.message


def test_names_fit_postgres_identifiers():
    longest = "x" * 40
    assert len(schema_name(longest)) <= 63
    assert len(role_name(longest, role_prefix_for("d" * 63))) <= 63
    assert schema_name("acme") == "tenant_acme"
    assert role_name("acme", role_prefix_for("strata")) == "strata_acme"


@pytest.mark.parametrize(("database", "configured", "prefix"), [
    ("strata", None, "strata_"), ("Strata-Staging", None, "strata_staging_"), ("9db", None, "db9db_"),
    ("strata", "prod_", "prod_"),
])
def test_role_prefix_comes_from_the_setting_or_the_database_name(database, configured, prefix):
    assert role_prefix_for(database, configured) == prefix


@pytest.mark.parametrize("configured", ["Bad", "x;drop", "1abc", "a" * 21])
def test_bad_role_prefix_is_refused(configured):
    with pytest.raises(ValueError, match="DB_ROLE_PREFIX"):
        role_prefix_for("strata", configured)
