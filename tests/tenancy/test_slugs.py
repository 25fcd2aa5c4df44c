import pytest

from strata.errors import ValidationError
from strata.tenancy.slugs import role_name, schema_name, validate_slug


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
    assert len(role_name(longest)) <= 63
    assert schema_name("acme") == "tenant_acme"
    assert role_name("acme") == "tenant_acme_role"
