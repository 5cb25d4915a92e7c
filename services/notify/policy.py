"""Who may do what in notify: role × action × scope, consulted by every endpoint."""

from __future__ import annotations

from shared.policy import Policy, Rule, Scope

EVERYONE: dict[str, Scope] = {"admin": "any", "officer": "any", "unit": "any", "agency": "any"}
# Leaders read their inbox (the approvals awaiting their level) and set how they are told; they subscribe to nothing.
WITH_LEADERS: dict[str, Scope] = {**EVERYONE, "leader": "any"}

POLICY = Policy([
    Rule("inbox.read", dict(WITH_LEADERS),
         description="read one's own inbox (officers: the areas they cover; leaders: the approvals awaiting their "
                     "level in the areas they lead)"),
    Rule("inbox.mark_read", dict(WITH_LEADERS), description="mark a notification of one's inbox read"),
    Rule("subscriptions.list", dict(EVERYONE), description="list one's subscriptions (admin: all)"),
    Rule("subscriptions.create", {"admin": "any", "officer": "area", "unit": "unit", "agency": "area"},
         description="subscribe to events; officers within their area (units as notify knows them), units to "
                     "their own unit; units and agencies only to events they may read"),
    Rule("subscriptions.webhook", {"admin": "any", "officer": "area"},
         description="subscribe with the webhook channel (notify then calls a URL the subscriber chose)"),
    Rule("subscriptions.delete", {"admin": "any", "officer": "own", "unit": "own", "agency": "own"},
         description="delete one's own subscription (admin: any)"),
    Rule("preferences.read", dict(WITH_LEADERS), description="read one's preferences and contact details"),
    Rule("preferences.write", dict(WITH_LEADERS), description="set one's preferences and contact details"),
    Rule("deliveries.list", {"admin": "any"}, description="the delivery log, for operators"),
    Rule("channels.test", {"admin": "any"}, description="send a test message through a channel"),
    Rule("channels.read", dict(WITH_LEADERS),
         description="the channels notify knows, with their labels and what they address"),
])
