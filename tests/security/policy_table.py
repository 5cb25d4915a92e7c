"""Print the policy table of every service (role × action × scope) as Markdown, for docs/security.md.

    .venv/bin/python -m tests.security.policy_table
"""

from __future__ import annotations

import importlib

from shared.settings import SERVICES

ROLES = ("admin", "officer", "leader", "unit", "agency")


def markdown() -> str:
    lines = []
    for service in SERVICES:
        try:
            policy = importlib.import_module(f"services.{service}.policy").POLICY
        except (ImportError, AttributeError):
            lines.append(f"\n**{service}**: no `services/{service}/policy.py` POLICY yet.\n")
            continue
        lines.append(f"\n**{service}**\n")
        lines.append("| action | " + " | ".join(ROLES) + " | what |")
        lines.append("|---|" + "---|" * len(ROLES) + "---|")
        for action, rule in policy.rules.items():
            cells = ["public" if rule.public else rule.grants.get(role, "—") for role in ROLES]
            lines.append(f"| `{action}` | " + " | ".join(cells) + f" | {rule.description} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown())
