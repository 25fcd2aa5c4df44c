"""Password rules (NIST 800-63B): at least 12 characters, and not guessable by zxcvbn's estimate.

zxcvbn knows common passwords, names, words, keyboard walks, dates and repeats; the user's own
email and name (and the product's name) are added to its dictionary, so they are refused too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from zxcvbn import zxcvbn

from strata.errors import ValidationError

MIN_LENGTH = 12
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn: 0 too guessable … 4 very unguessable
SCORED_PREFIX = 100  # zxcvbn's cost grows with length; a longer password is judged by its first 100 characters
LABELS = ("very weak", "weak", "fair", "strong", "very strong")


@dataclass(frozen=True)
class Strength:
    score: int
    label: str
    problem: str | None = None  # the rule broken, for the error and the meter
    hints: list[str] = field(default_factory=list)

    @property
    def acceptable(self) -> bool:
        return self.problem is None


def _context(email: str, name: str) -> list[str]:
    words = ["strata"]
    email = (email or "").lower()
    if email:
        local, _, domain = email.partition("@")
        words += [email, local, *re.split(r"[._+-]", local), *domain.split(".")]
    words += [w for w in re.split(r"\s+", (name or "").lower()) if w]
    return [w for w in words if len(w) >= 3]


def strength(password: str, *, email: str = "", name: str = "") -> Strength:
    """Return how guessable `password` is for this person, and the first rule it breaks."""
    password = password or ""
    if len(password) > MAX_LENGTH:
        return Strength(0, LABELS[0], f"Password must be at most {MAX_LENGTH} characters.")
    result = zxcvbn(password[:SCORED_PREFIX], user_inputs=_context(email, name)) if password else None
    score = result["score"] if result else 0
    feedback = result["feedback"] if result else {"warning": "", "suggestions": []}
    hints = [h for h in [feedback.get("warning"), *feedback.get("suggestions", [])] if h]
    if len(password) < MIN_LENGTH:
        return Strength(score, LABELS[score], f"Password must be at least {MIN_LENGTH} characters.", hints)
    local = (email or "").lower().partition("@")[0]
    if len(local) >= 4 and local in password.lower():
        return Strength(min(score, 1), LABELS[min(score, 1)], "Password must not contain your email address.", hints)
    if score < MIN_SCORE:
        reason = feedback.get("warning") or "add another word or two; uncommon words are better."
        return Strength(score, LABELS[score], f"Password is too easy to guess: {reason}", hints)
    return Strength(score, LABELS[score], None, hints)


def check(password: str, *, email: str = "", name: str = "") -> None:
    """Raise ValidationError on `password` unless it meets the rules for this person."""
    verdict = strength(password, email=email, name=name)
    if verdict.problem is not None:
        rule = "min_length" if len(password or "") < MIN_LENGTH else (
            "max_length" if len(password or "") > MAX_LENGTH else "guessable")
        raise ValidationError.single("password", rule, verdict.problem)
