"""Matching rules shared by routing and subscriptions: event-type patterns and the area hierarchy."""

from __future__ import annotations

from functools import lru_cache

from shared.areas import covers

_REST = ("*", ">")


def valid_type_pattern(pattern: str) -> bool:
    """A pattern is dot-separated tokens; `*` is one token, a final `*` or `>` is one or more tokens."""
    tokens = pattern.split(".")
    if any(not token for token in tokens):
        return False
    return ">" not in tokens[:-1]


@lru_cache(maxsize=8192)  # a handful of patterns and event types; every event checks every rule
def type_matches(pattern: str, event_type: str) -> bool:
    """`antq.tips.*` matches every tips event; `antq.*.TipReceived.v1` one type in any prefix; exact otherwise.

    A trailing `*` takes the rest (not only one token) because event types have a version token after the
    name, and `antq.tips.*` reads naturally as "everything of tips"; it still needs at least one token.
    """
    p_tokens = pattern.split(".")
    t_tokens = event_type.split(".")
    for index, token in enumerate(p_tokens):
        last = index == len(p_tokens) - 1
        if last and token in _REST:
            return len(t_tokens) > index
        if index >= len(t_tokens):
            return False
        if token != "*" and token != t_tokens[index]:
            return False
    return len(p_tokens) == len(t_tokens)


def area_covers(scope: str | None, area: str | None) -> bool:
    """Whether an officer or subscription scoped to `scope` covers an event in `area`.

    Area codes are hierarchical and dot-separated: province `79`, commune `79.26743`. A scope covers its own
    code and every code below it, matched segment by segment, so `79` covers `79.26743` but neither `7` nor
    `790` (a bare string prefix would). No scope (None) means the whole country and covers everything,
    including events whose area is unknown; a scoped recipient never gets an event whose area is unknown.
    """
    if scope is None:
        return True
    if area is None:
        return False
    return covers(scope, area)
