"""Who may do what with a class's things: `thing_classes.permissions` maps actions to tenant roles.

`{"read": ["viewer", "editor"], "create": ["editor"]}`: an action that is listed allows exactly the
roles listed; an action that is not listed falls back to the default (every member reads; editors
create, update and delete). Admins manage the classes themselves and are always allowed. Pages, the
JSON API and GraphQL all ask this module, so the three enforce the same rules; a class a role may not
read is reported as not found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, not_, or_, select

from strata.accounts.models import ROLE_RANK, ROLES
from strata.db import db
from strata.errors import FieldError, Forbidden, NotFound, ValidationError
from strata.things.models import ACTIONS, ThingClass

DEFAULTS = {"read": "viewer", "create": "editor", "update": "editor", "delete": "editor"}
VERBS = {"read": "see", "create": "create", "update": "change", "delete": "delete"}


@dataclass
class Actor:
    """The member acting in the tenant: their user id and tenant role."""

    user_id: int | None
    role: str
    _hidden: list[int] | None = field(default=None, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def can(self, action: str, cls: ThingClass) -> bool:
        """Return True if this member may do `action` on things of `cls`."""
        return allowed(cls.permissions, action, self.role)

    def require(self, action: str, cls: ThingClass) -> None:
        """Raise NotFound if the class is unreadable, Forbidden if `action` is not allowed."""
        if not self.can("read", cls):
            raise NotFound(f"no thing class {cls.id}")
        if not self.can(action, cls):
            raise Forbidden(f"Your role ({self.role}) may not {VERBS[action]} {cls.name} things.")

    def require_admin(self) -> None:
        """Raise Forbidden unless this member is a tenant admin (class definitions are admin work)."""
        if not self.is_admin:
            raise Forbidden("Only tenant admins may change thing classes, attributes and relationships.")

    def hidden_class_ids(self) -> list[int]:
        """Return the ids of classes this member may not read (one statement per actor, then cached)."""
        if self._hidden is None:
            # `permissions ? 'read'` first, so the GIN index finds the few classes that restrict reading.
            self._hidden = [] if self.is_admin else list(db.session.scalars(select(ThingClass.id).where(
                ThingClass.permissions.has_key("read"), not_(ThingClass.permissions["read"].has_key(self.role)))))
        return self._hidden


def allowed(permissions: dict[str, Any] | None, action: str, role: str) -> bool:
    """Return True if `role` may do `action` under `permissions`."""
    if role == "admin":
        return True
    roles = (permissions or {}).get(action)
    if roles is None:
        return ROLE_RANK[role] >= ROLE_RANK[DEFAULTS[action]]
    return role in roles


def readable_clause(role: str, classes=None) -> ColumnElement[bool]:
    """Return a SQL condition on thing_classes (the entity, or `classes`: its table) true for the classes
    `role` may read."""
    cols = ThingClass if classes is None else classes.c
    if role == "admin":
        return cols.id.isnot(None)
    listed = cols.permissions.has_key("read")
    return or_(not_(listed), and_(listed, cols.permissions["read"].has_key(role)))


def clean_permissions(raw: Any) -> dict[str, list[str]]:
    """Return `raw` as a permissions object {action: [roles]}; raise ValidationError naming the problem."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError.single("permissions", "json_object", 'Permissions must be a JSON object like '
                                                                   '{"read": ["viewer", "editor"]}.')
    errors, out = [], {}
    for action, roles in raw.items():
        if action not in ACTIONS:
            errors.append(FieldError("permissions", "choice",
                                     f"Permissions: {action!r} is not an action; use {', '.join(ACTIONS)}."))
            continue
        if not isinstance(roles, list) or any(r not in ROLES for r in roles):
            errors.append(FieldError("permissions", "choice",
                                     f"Permissions for {action} must be a list of roles from {', '.join(ROLES)}."))
            continue
        out[action] = sorted(set(roles), key=ROLE_RANK.get)
    if errors:
        raise ValidationError(errors)
    return out


def permissions_from_form(checked: Iterable[str], listed: Iterable[str]) -> dict[str, list[str]]:
    """Return permissions from form checkboxes named `action:role`, for the actions in `listed`."""
    listed = set(listed)
    out: dict[str, list[str]] = {a: [] for a in ACTIONS if a in listed}
    for item in checked:
        action, _, role = item.partition(":")
        if action in out and role in ROLES:
            out[action].append(role)
    return out
