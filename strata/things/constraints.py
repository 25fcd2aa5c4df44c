"""The database's refusals, by constraint name, as the same messages the domain gives.

The domain checks every rule before it writes; these catch what only the database can see at commit
time (two requests creating the same name, two links racing for one slot) and anything written past
the domain. `refusal(exc)` returns the ValidationError for a constraint, or None for an unknown one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, IntegrityError

from strata.db import db
from strata.errors import FieldError, ValidationError

MESSAGES: dict[str, tuple[str, str, str]] = {
    "unique_thing_class_name": ("name", "unique", "A thing class with this name already exists."),
    "valid_thing_class_name": ("name", "required", "Name must not be blank."),
    "valid_validation_rules_json": ("validation_rules", "json_object", "Validation rules must be a JSON object."),
    "valid_permissions_json": ("permissions", "json_object", "Permissions must be a JSON object."),
    "valid_assignment_rules_json": ("assignment_rules", "json_object", "Assignment rules must be a JSON object."),
    "unique_thing_class_attribute": ("attribute_id", "unique", "This attribute is already assigned to the class."),
    "unique_attribute_name": ("name", "unique", "An attribute with this name already exists."),
    "valid_attribute_name": ("name", "format", "Attribute name must start with a lowercase letter and use only "
                                               "lowercase letters, digits and _ (at most 63)."),
    "valid_attribute_label": ("label", "required", "Label must not be blank."),
    "valid_attribute_data_type": ("data_type", "choice", "That is not a known data type."),
    "valid_attribute_constraints_json": ("constraints", "json_object", "Constraints must be a JSON object."),
    "valid_attribute_enum_values_json": ("enum_values", "json_array", "Enum values must be a JSON list."),
    "valid_attribute_enum_has_values": ("enum_values", "required", "An enum attribute needs at least one value."),
    "valid_attribute_reference_class": ("reference_class_id", "required",
                                        "A reference attribute needs the class it refers to (and only it does)."),
    "unique_relationship_type_name": ("name", "unique", "A relationship type with this name already exists."),
    "valid_relationship_type_name": ("name", "required", "Name must not be blank."),
    "valid_relationship_type_inverse_name": ("inverse_name", "required", "Inverse name must not be blank."),
    "unique_class_relationship": ("relationship_type_id", "unique",
                                  "These classes already have a relationship of this type."),
    "valid_cardinality_rules_json": ("cardinality_rules", "json_object", "Cardinality rules must be a JSON object."),
    "valid_cardinality_type": ("cardinality", "choice", "Cardinality must be one_to_one, one_to_many, many_to_one "
                                                        "or many_to_many."),
    "valid_thing_name": ("name", "required", "Name must not be blank."),
    "valid_attribute_values_json": ("attribute_values", "json_object", "Attribute values must be a JSON object."),
    "thing_class_inactive": ("thing_class_id", "inactive", "This class is deactivated and accepts no new things."),
    "unique_thing_relationship": ("to_thing_id", "unique", "These things are already linked this way."),
    "valid_thing_relationship_not_self": ("to_thing_id", "self", "A thing cannot be linked to itself."),
    "thing_link_inactive": ("class_relationship_id", "inactive", "This relationship is deactivated."),
    "thing_link_from_class": ("from_thing_id", "class", "The source thing is not of the relationship's class."),
    "thing_link_to_class": ("to_thing_id", "class", "The target thing is not of the relationship's class."),
    "thing_link_max_targets": ("to_thing_id", "cardinality",
                               "The source thing already has as many links of this relationship as it may."),
    "thing_link_max_sources": ("from_thing_id", "cardinality",
                               "The target thing is already linked from another thing by this relationship."),
    "fk_attributes_reference_class": ("reference_class_id", "in_use",
                                      "The class is referenced by an attribute; change that attribute first."),
    "fk_assignment_attribute": ("attribute_id", "in_use", "The attribute is assigned to a class; unassign it first."),
    "fk_class_rel_type": ("relationship_type_id", "in_use",
                          "The relationship type is used by a class relationship; remove that first."),
}


def refusal(exc: DBAPIError) -> ValidationError | None:
    """Return the ValidationError for the constraint `exc` names, or None if it names none we know."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name not in MESSAGES:
        return None
    return ValidationError(FieldError(*MESSAGES[name]))


@contextmanager
def translated(on_error: Callable[[], None] | None = None) -> Iterator[None]:
    """Flush inside a savepoint; turn a known constraint refusal into ValidationError, undoing the write."""
    savepoint = db.session.begin_nested()
    try:
        yield
        db.session.flush()
        savepoint.commit()
    except (IntegrityError, DBAPIError) as exc:
        savepoint.rollback()
        error = refusal(exc)
        if error is None:
            raise
        if on_error is not None:
            on_error()
        raise error from None
