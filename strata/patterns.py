"""User-supplied regular expressions: compiled and matched only here, by RE2 (linear time, no backtracking).

Every pattern a tenant defines (validator formats and their test box, thing attribute `pattern`,
class `name_pattern`, extension manifest field patterns) goes through `check` when it is
defined and through `matches` when a value is judged. RE2 runs in time linear in the input
whatever the pattern, so `^(a+)+$` cannot hold a worker. Patterns RE2 cannot run
(backreferences, lookaround, atomic groups, possessive quantifiers) are refused at definition
with a message naming the field and the construct. Pattern and input lengths are capped.
"""

from __future__ import annotations

import functools
from typing import Literal

import re2

from strata.errors import FieldError

PATTERN_MAX = 500
INPUT_MAX = 20_000
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = 8 << 20  # bytes of compiled program; a huge repetition count is refused, not built

# What RE2's parser says about a construct it has no linear-time form for → what a person calls it.
_CONSTRUCTS = (
    ("(?=", "lookahead (?=…)"), ("(?!", "negative lookahead (?!…)"), ("(?<=", "lookbehind (?<=…)"),
    ("(?<!", "negative lookbehind (?<!…)"), ("(?>", "an atomic group (?>…)"), ("(?P=", "a named backreference (?P=…)"),
    ("(?P>", "a recursive call (?P>…)"), ("(?R", "recursion (?R)"), ("(?(", "a conditional (?(…)"),
    ("\\k", "a named backreference \\k<…>"), ("\\g", "a backreference \\g…"), ("++", "a possessive quantifier ++"),
    ("*+", "a possessive quantifier *+"), ("?+", "a possessive quantifier ?+"),
)


class PatternError(ValueError):
    """A pattern cannot be used: `error` names the field, the rule and the construct."""

    def __init__(self, error: FieldError):
        self.error = error
        super().__init__(error.message)


def _construct(pattern: str, reason: str) -> str | None:
    for marker, name in _CONSTRUCTS:
        if marker in reason or marker in pattern and marker.startswith("(?"):
            return name
    if "invalid escape sequence: \\" in reason and reason.rstrip()[-1:].isdigit():
        return f"a backreference {reason.rsplit(': ', 1)[-1]}"
    return None


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str):
    return re2.compile(pattern, _OPTIONS)


def check(pattern: object, field: str = "pattern", label: str | None = None):
    """Return `pattern` compiled by RE2; raise PatternError naming `field` and what is wrong."""
    label = label or field
    if not isinstance(pattern, str) or not pattern:
        raise PatternError(FieldError(field, "pattern", f"{label} must be a regular expression in a text."))
    if len(pattern) > PATTERN_MAX:
        raise PatternError(FieldError(field, "pattern", f"{label} must be at most {PATTERN_MAX} characters "
                                                        f"(got {len(pattern)})."))
    try:
        return _compiled(pattern)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        construct = _construct(pattern, reason)
        if construct:
            message = (f"{label} uses {construct}, which is not supported: patterns run on a linear-time engine "
                       "without backreferences or lookaround.")
            raise PatternError(FieldError(field, "pattern_construct", message)) from None
        raise PatternError(FieldError(field, "pattern", f"{label} is not a valid regular expression "
                                                        f"({reason}).")) from None


def matches(pattern: str, text: str, *, mode: Literal["search", "fullmatch"] = "search") -> bool:
    """Return whether `text` matches `pattern` (searched anywhere, or as a whole).

    A text longer than INPUT_MAX, or a stored pattern RE2 cannot run (defined before patterns
    were checked), matches nothing: the value is refused by its rule, never a server error."""
    if len(text) > INPUT_MAX:
        return False
    try:
        compiled = check(pattern)
    except PatternError:
        return False
    found = compiled.fullmatch(text) if mode == "fullmatch" else compiled.search(text)
    return found is not None
