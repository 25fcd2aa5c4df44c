"""Helpers for tests that walk the URL map."""

from werkzeug.routing.converters import AnyConverter


def rule_url(rule, slug: str) -> str:
    """Build the rule's URL for `slug`, with 1 for numbers and the first choice of any(…) parts."""
    values = {"slug": slug}
    for name, converter in rule._converters.items():
        if name != "slug":
            values[name] = sorted(converter.items)[0] if isinstance(converter, AnyConverter) else 1
    return rule.build(values)[1]
