"""Who may do what on the bus: NATS accounts, users and permissions, derived from the stream registry and the
streams each service consumes. One definition renders both the production `deploy/nats/accounts.conf` (and the
Helm values) and the embedded server's generated config, so the two cannot drift apart.

A service user may publish only on its own prefix and its DLQ prefix, and may use the JetStream API only on the
streams it consumes (its durable consumers: create, info, delete, fetch, ack) plus stream INFO on the streams it
publishes to (to wait until they are provisioned), and a message of the DLQ by sequence (its administrators'
read-only view, `GET /dlq`). It cannot create, update, delete or purge a stream, nor read a message of another
stream by sequence (`STREAM.MSG.GET`, `DIRECT.GET`). Each service receives on its own inbox prefix
(`_INBOX_<service>`), so it cannot listen in on the deliveries or PubAcks of another service. Streams are declared
by the provisioning user (`admin`, also the operators' user) with `antq nats provision`.

Each external agency may publish only on `antq.inbound.<agency>.>`; the platform account exports the subject to
the agency's account as a service, so the publish lands where the inbound streams capture it and the stream's
PubAck travels back to the agency's inbox. Production gives each agency an account of its own; the embedded server
puts them in one account (see `accounts`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.contracts.subjects import (
    DLQ_PREFIX,
    OUTBOUND_PUBLISHERS,
    STREAMS,
    outbound_durable,
    outbound_subject,
    stream_for_subject,
)
from shared.settings import valid_agency_name

PLATFORM_ACCOUNT = "ANTQ"
SYSTEM_ACCOUNT = "SYS"
SHARED_AGENCY_ACCOUNT = "AGENCIES"
ADMIN_USER = "admin"

# Every subject of the JetStream API a durable pull consumer needs, per consumed stream `{s}`. The consumer
# create subject carries the consumer's name and filter subject (several tokens), hence `>`.
_CONSUMER_API = (
    "$JS.API.STREAM.INFO.{s}",
    "$JS.API.CONSUMER.CREATE.{s}.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.{s}.*",
    "$JS.API.CONSUMER.INFO.{s}.*",
    "$JS.API.CONSUMER.DELETE.{s}.*",
    "$JS.API.CONSUMER.NAMES.{s}",
    "$JS.API.CONSUMER.LIST.{s}",
    "$JS.API.CONSUMER.MSG.NEXT.{s}.*",
    "$JS.ACK.{s}.>",
)


# The JetStream API prefix under which an agency's account imports its outbound consumer's API subjects
# (`nc.jetstream(prefix=AGENCY_JS_PREFIX)`).
AGENCY_JS_PREFIX = "JS.ANTQ.API"


def outbound_api(agency: str) -> tuple[tuple[str, str | None], ...]:
    """The JetStream subjects an agency's consumer needs, as (platform subject, name in the agency's account)."""
    durable = outbound_durable(agency)
    stream = "OUTBOUND"
    return (
        (f"$JS.API.CONSUMER.INFO.{stream}.{durable}", f"{AGENCY_JS_PREFIX}.CONSUMER.INFO.{stream}.{durable}"),
        (f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
         f"{AGENCY_JS_PREFIX}.CONSUMER.MSG.NEXT.{stream}.{durable}"),
        (f"$JS.ACK.{stream}.{durable}.>", None),  # acks go to the delivered message's reply subject, as it is
    )


def agency_inbox_prefix(agency: str) -> str:
    """The reply-subject prefix an agency's connection uses (`inbox_prefix`): in a shared account only that agency
    may subscribe below it, so no agency receives another's PubAcks or replies."""
    return f"_INBOX_{agency}"


def inbox_prefix(service: str) -> str:
    """The reply-subject prefix of a service's connection; only that service may subscribe below it."""
    return f"_INBOX_{service}"


def agency_account(agency: str) -> str:
    """`mia-app` -> `MIA_APP` (agency names are lower-case letters, digits and hyphens, so this is one-to-one)."""
    if not valid_agency_name(agency):
        raise ValueError(f"invalid agency name {agency!r}: lower-case letters, digits and hyphens only")
    account = agency.upper().replace("-", "_")
    if account in (PLATFORM_ACCOUNT, SYSTEM_ACCOUNT, SHARED_AGENCY_ACCOUNT):
        raise ValueError(f"agency name {agency!r} is reserved")
    return account


def password_variable(user: str) -> str:
    """The server environment variable holding a user's password in the production config."""
    return "ANTQ_NATS_PASSWORD_" + user.upper().replace("-", "_")


@dataclass(frozen=True)
class User:
    name: str
    publish: tuple[str, ...] | None  # None: no restriction
    subscribe: tuple[str, ...] | None
    note: str = ""


def service_user(service: str, consumes: Iterable[str]) -> User:
    own = stream_for_subject(f"antq.{service}.x").name
    dlq = stream_for_subject(f"{DLQ_PREFIX}.{service}.x").name
    publish = [f"antq.{service}.>", f"{DLQ_PREFIX}.{service}.>", "$JS.API.INFO"]
    replies = [outbound_subject("*", t) for t, by in sorted(OUTBOUND_PUBLISHERS.items()) if service in by]
    publish += replies
    streams = (own, dlq, "OUTBOUND") if replies else (own, dlq)
    publish += [f"$JS.API.STREAM.INFO.{s}" for s in dict.fromkeys(streams) if s not in consumes]
    # The administrators' read-only DLQ view (`GET /dlq`): messages of the DLQ by sequence, asked for by its own
    # subjects (`next_by_subj` antq.dlq.<service>.>). The server cannot restrict a message get to a subject, so a
    # service could read another's records: catalogue events (which never carry a reporter's identity) and headers;
    # an agency's sealed message keeps no body there (`dlq_keeps_body=False`).
    publish.append(f"$JS.API.STREAM.MSG.GET.{dlq}")
    for stream in consumes:
        publish += [pattern.format(s=stream) for pattern in _CONSUMER_API]
    return User(service, tuple(publish), (f"{inbox_prefix(service)}.>",),
                note=f"reads {', '.join(consumes) or 'no stream'}")


def platform_users(consumes: Mapping[str, Iterable[str]]) -> tuple[User, ...]:
    """The service users, then `admin` (provisioning and operators: unrestricted inside the platform account)."""
    known = {spec.name for spec in STREAMS}
    users = []
    for service, streams in consumes.items():
        wanted = tuple(dict.fromkeys(streams))
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise ValueError(f"{service} consumes unknown stream(s) {unknown}: not in the stream registry")
        users.append(service_user(service, wanted))
    users.append(User(ADMIN_USER, None, None, note="provisions streams; operators' tools (`antq dlq`)"))
    return tuple(users)


def agency_user(agency: str, *, shared_account: bool = False) -> User:
    """Publishes on its inbound subjects, reads its replies through its outbound consumer. PubAcks and pulled
    replies come back on the agency's inbox: `_INBOX_<agency>.>`, and in an account of its own also the default
    `_INBOX.>`, where no one else listens."""
    publish = [f"antq.inbound.{agency}.>", *(local or platform for platform, local in outbound_api(agency))]
    inboxes = (f"{agency_inbox_prefix(agency)}.>",) if shared_account else ("_INBOX.>",
                                                                           f"{agency_inbox_prefix(agency)}.>")
    return User(agency, tuple(publish), inboxes, note="its inbound subjects; its own replies")


def _outbound_exports(agencies: list[str], account: Callable[[str], str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for agency in agencies:
        for platform, _ in outbound_api(agency):
            export: dict[str, Any] = {"service": platform, "accounts": [account(agency)]}
            if ".MSG.NEXT." in platform:
                export["response_type"] = "stream"  # a pull request is answered with many messages
            out.append(export)
    return out


def _outbound_imports(agency: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for platform, local in outbound_api(agency):
        item: dict[str, Any] = {"service": {"account": PLATFORM_ACCOUNT, "subject": platform}}
        if local:
            item["to"] = local
        out.append(item)
    return out


def accounts(consumes: Mapping[str, Iterable[str]], agencies: Iterable[str],
             password: Callable[[str], str], *, system_account: bool,
             shared_agency_account: bool = False) -> dict[str, Any]:
    """The `accounts` block as data (NATS config and Helm values take the same shape).

    Production gives each agency an account of its own. `shared_agency_account` puts every agency user in one
    account (`AGENCIES`) that exists from the start, with the same per-user permissions: the embedded server adds
    agencies by reloading its config, and nats-server loses the cross-account import interest of an account that
    a reload introduces, while adding a user to an existing account reloads cleanly."""
    agencies = sorted(set(agencies))
    for agency in agencies:
        agency_account(agency)  # validates the name
    platform: dict[str, Any] = {
        "jetstream": "enabled",
        "users": [_user_entry(u, password) for u in platform_users(consumes)],
    }
    out: dict[str, Any] = {PLATFORM_ACCOUNT: platform}
    if shared_agency_account:
        # The imports cover every agency (wildcards), so adding an agency changes users only: a clean reload.
        # Each user's permissions keep it to its own subjects.
        platform["exports"] = [
            {"service": "antq.inbound.>", "accounts": [SHARED_AGENCY_ACCOUNT]},
            {"service": "$JS.API.CONSUMER.INFO.OUTBOUND.*", "accounts": [SHARED_AGENCY_ACCOUNT]},
            {"service": "$JS.API.CONSUMER.MSG.NEXT.OUTBOUND.*", "accounts": [SHARED_AGENCY_ACCOUNT],
             "response_type": "stream"},
            {"service": "$JS.ACK.OUTBOUND.>", "accounts": [SHARED_AGENCY_ACCOUNT]},
        ]
        out[SHARED_AGENCY_ACCOUNT] = {
            "users": [_user_entry(agency_user(a, shared_account=True), password) for a in agencies],
            "imports": [
                {"service": {"account": PLATFORM_ACCOUNT, "subject": "antq.inbound.>"}},
                {"service": {"account": PLATFORM_ACCOUNT, "subject": "$JS.API.CONSUMER.INFO.OUTBOUND.*"},
                 "to": f"{AGENCY_JS_PREFIX}.CONSUMER.INFO.OUTBOUND.*"},
                {"service": {"account": PLATFORM_ACCOUNT, "subject": "$JS.API.CONSUMER.MSG.NEXT.OUTBOUND.*"},
                 "to": f"{AGENCY_JS_PREFIX}.CONSUMER.MSG.NEXT.OUTBOUND.*"},
                {"service": {"account": PLATFORM_ACCOUNT, "subject": "$JS.ACK.OUTBOUND.>"}},
            ],
        }
    elif agencies:
        platform["exports"] = [{"service": f"antq.inbound.{a}.>", "accounts": [agency_account(a)]}
                               for a in agencies] + _outbound_exports(agencies, agency_account)
        for agency in agencies:
            out[agency_account(agency)] = {
                "users": [_user_entry(agency_user(agency), password)],
                "imports": [{"service": {"account": PLATFORM_ACCOUNT, "subject": f"antq.inbound.{agency}.>"}},
                            *_outbound_imports(agency)],
            }
    if system_account:
        out[SYSTEM_ACCOUNT] = {"users": [{"user": "sys", "password": password("sys")}]}
    return out


def _user_entry(user: User, password: Callable[[str], str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"user": user.name, "password": password(user.name)}
    if user.publish is not None or user.subscribe is not None:
        entry["permissions"] = {
            "publish": {"allow": list(user.publish or ())},
            "subscribe": {"allow": list(user.subscribe or ())},
        }
    return entry


# --- rendering -----------------------------------------------------------------------------------------------
PRODUCTION_HEADER = """\
# Accounts and users of an antq NATS deployment (operator-less: accounts live in the server config).
#
# GENERATED by `antq nats accounts --agency mia-app > deploy/nats/accounts.conf` from shared/bus/permissions.py
# (the stream registry and the streams each service consumes); tests/deploy check the file equals the output.
#
# Passwords come from the server's environment (NATS resolves `$NAME` from the environment when no config
# variable of that name exists), so this file holds no secret. Use non-numeric passwords.
#
# ANTQ     the platform. One user per service: it publishes only on its own prefix and its DLQ prefix, uses the
#          JetStream consumer API only on the streams it consumes, and receives on its own inbox prefix
#          (`_INBOX_<service>`). No service may create, update, delete or purge a stream or read a message by
#          sequence. `admin` provisions the streams (`antq nats provision`) and is the operators' user.
# <AGENCY> one account per external agency. It may publish only on `antq.inbound.<agency>.>`; the subject is
#          exported by ANTQ as a *service*, so the publish lands in the ANTQ account (where the inbound streams
#          capture it) and the stream's PubAck travels back to the agency. The agency has no JetStream of its
#          own: it reads its replies (`antq.outbound.<agency>.>`) through its durable consumer `outbound-<agency>`
#          on OUTBOUND, whose info, next-message (under the prefix JS.ANTQ.API) and ack subjects alone ANTQ
#          exports to it (`antq nats provision --agency NAME` creates the consumer).
# SYS      the system account (server reports, `nats server ...` tooling).
"""


def _password(value: str) -> str:
    # `$NAME` unquoted is a variable reference, resolved by the server from its environment.
    return value if value.startswith("$") else json.dumps(value)


def render_conf(block: Mapping[str, Any], *, header: str = "", system_account: bool = False) -> str:
    """NATS server config text for an `accounts` block (one user per line group, readable in review)."""
    lines = [header] if header else []
    lines.append("accounts: {")
    for account, body in block.items():
        lines.append(f"  {account}: {{")
        if "jetstream" in body:
            lines.append(f"    jetstream: {body['jetstream']}")
        lines.append("    users: [")
        for user in body["users"]:
            head = f"user: {json.dumps(user['user'])}, password: {_password(user['password'])}"
            if "permissions" not in user:
                lines.append(f"      {{ {head} }}")
                continue
            perms = user["permissions"]
            lines.append(f"      {{ {head}")
            lines.append("        permissions: {")
            for kind in ("publish", "subscribe"):
                allow = perms[kind]["allow"]
                lines.append(f"          {kind}: {{ allow: [")
                lines += [f"            {json.dumps(subject)}" for subject in allow]
                lines.append("          ] }")
            lines.append("        }")
            lines.append("      }")
        lines.append("    ]")
        for key in ("exports", "imports"):
            if key in body:
                lines.append(f"    {key}: [")
                lines += [f"      {json.dumps(item)}" for item in body[key]]
                lines.append("    ]")
        lines.append("  }")
    lines.append("}")
    if system_account:
        lines.append(f"\nsystem_account: {SYSTEM_ACCOUNT}")
    return "\n".join(lines) + "\n"


def production_accounts_conf(consumes: Mapping[str, Iterable[str]], agencies: Iterable[str]) -> str:
    """`deploy/nats/accounts.conf`: passwords are `$ANTQ_NATS_PASSWORD_<USER>` from the server's environment."""
    block = accounts(consumes, agencies, lambda user: "$" + password_variable(user), system_account=True)
    return render_conf(block, header=PRODUCTION_HEADER, system_account=True)


def helm_accounts(consumes: Mapping[str, Iterable[str]], agencies: Iterable[str]) -> dict[str, Any]:
    """The same accounts for the NATS Helm chart's `config.merge.accounts` (`<< $VAR >>` is its variable syntax)."""
    return accounts(consumes, agencies, lambda user: f"<< ${password_variable(user)} >>", system_account=True)
