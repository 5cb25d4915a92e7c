"""Administrators' pages: the console's accounts (create, disable and enable, reset the password, change role and
area), and read-only views of the services' dead letters (`GET /dlq`) and audit trails (`GET /audit`: who
revealed which tip's reporter, who decided which award or assessment year).

Accounts live in the console's own database; every change is logged (`antq.console.admin`) with the
administrator's name. A new or reset password is random and shown once to the administrator, who hands it over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.console.clients import ApiError
from services.console.context import ConsoleContext
from services.console.domain.accounts import LEVELS, ROLES, Account, AccountError, is_oidc_account, validate_account
from services.console.i18n import TEXT
from services.console.web.awards import names_for
from services.console.web.pages import (
    Ctx,
    Person,
    api,
    checked_form,
    field,
    render,
    service_message,
    signed_in,
    with_lang,
)
from shared.settings import SERVICES

router = APIRouter(tags=["console"])
log = logging.getLogger("antq.console.admin")

BUS_SERVICES = SERVICES  # the services on the bus (shared/service_registry.py)
AUDITED = ("tips", "awards", "units")  # the services that keep a hash-chained audit trail


# --- accounts ------------------------------------------------------------------------------------------------------
async def _accounts_page(ctx: ConsoleContext, request: Request, person: Person, *, notice: str | None = None,
                         error: str | None = None, secret: dict[str, str] | None = None,
                         form: dict[str, str] | None = None, status: int = 200) -> Response:
    accounts = sorted(await ctx.accounts.list(), key=lambda a: a.username)
    units = await ctx.apis.unit_names(person.account, {a.unit for a in accounts if a.unit})
    return render(request, "admin_accounts.html", lang=person.lang, title_key="ad.accounts_title", person=person,
                  accounts=accounts, roles=ROLES, levels=LEVELS, notice=notice, error=error, secret=secret,
                  form=form or {"role": "officer"}, status=status, now=ctx.now(), is_oidc=is_oidc_account,
                  units=units)


@router.get("/admin/accounts", response_class=HTMLResponse, summary="The console's accounts (administrators)")
async def accounts_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.admin")
    return await _accounts_page(ctx, request, person)


def _scope(form: Any, username: str) -> Account:
    role = field(form, "role", 16) or ""
    return Account(username=username, role=role, area=field(form, "area", 64), unit=field(form, "unit", 64),
                   level=field(form, "level", 16) if role == "leader" else None)


@router.post("/admin/accounts", response_class=HTMLResponse, summary="Create an account (administrators)")
async def create_account(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.admin")
    form = await checked_form(request, person)
    username = field(form, "username", 64) or ""
    kept = {k: field(form, k, 64) or "" for k in ("username", "role", "area", "unit", "level")}
    account = _scope(form, username)
    try:
        validate_account(account)
        password = ctx.accounts.new_password()
        await ctx.accounts.add(account, password, now=ctx.now())
    except AccountError as exc:
        return await _accounts_page(ctx, request, person, error=_account_error(person.lang, exc), form=kept, status=422)
    log.info("account created", extra={"admin": person.account.username, "account": username,
                                       "role": account.role, "area": account.area})
    return await _accounts_page(ctx, request, person, notice=TEXT[person.lang]["ad.created"].format(username=username),
                                secret={"username": username, "password": password})


def _account_error(lang: str, exc: AccountError) -> str:
    return TEXT[lang]["ad.refused"].format(message=str(exc))


@router.post("/admin/accounts/change", response_class=HTMLResponse,
             summary="Disable, enable, reset the password of, or change the role and area of an account")
async def change_account(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.admin")
    form = await checked_form(request, person)
    t = TEXT[person.lang]
    username = field(form, "username", 64) or ""
    action = field(form, "action", 16) or ""
    if username == person.account.username and action in ("disable", "scope"):
        return await _accounts_page(ctx, request, person, error=t["ad.not_yourself"], status=422)
    secret = None
    try:
        if action == "disable":
            await ctx.accounts.disable(username, now=ctx.now())
        elif action == "enable":
            await ctx.accounts.enable(username, now=ctx.now())
        elif action == "reset":
            secret = {"username": username, "password": await ctx.accounts.reset_password(username, now=ctx.now())}
        elif action == "scope":
            await ctx.accounts.set_scope(_scope(form, username), now=ctx.now())
        else:
            return await _accounts_page(ctx, request, person, error=t["ad.unknown_action"], status=422)
    except AccountError as exc:
        return await _accounts_page(ctx, request, person, error=_account_error(person.lang, exc), status=422)
    log.info("account changed", extra={"admin": person.account.username, "account": username, "action": action})
    return await _accounts_page(ctx, request, person, notice=t[f"ad.done.{action}"].format(username=username),
                                secret=secret)


# --- dead letters --------------------------------------------------------------------------------------------------
@router.get("/admin/dlq", response_class=HTMLResponse, summary="Every service's dead letters (read-only)")
async def dlq_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.admin")

    async def one(service: str) -> tuple[str, list[dict[str, Any]] | None, str | None]:
        try:
            data = await api(ctx, person, service, "GET", "/dlq", params={"limit": 200})
        except ApiError as exc:
            return service, None, service_message(person.lang, exc, service)
        return service, list(data["items"]), None

    found = await asyncio.gather(*(one(s) for s in BUS_SERVICES))
    return render(request, "admin_dlq.html", lang=person.lang, title_key="ad.dlq_title", person=person,
                  found=found)


# --- audit trails --------------------------------------------------------------------------------------------------
@router.get("/admin/audit", response_class=HTMLResponse, summary="A service's audit trail (read-only)")
async def audit_page(ctx: Ctx, request: Request) -> Response:
    person = await signed_in(ctx, request, "console.admin")
    service = request.query_params.get("service") or "tips"
    if service not in AUDITED:
        service = "tips"
    cursor = (request.query_params.get("cursor") or "")[:200] or None
    params: dict[str, Any] = {"limit": 50, "cursor": cursor}
    only = request.query_params.get("only")
    if service == "tips" and only == "reveals":
        params["action"] = "tip.reveal_reporter"
    error, items, more = None, [], None
    try:
        page = await api(ctx, person, service, "GET", "/audit", params=params)
        items = page["items"]
        if page.get("next_cursor"):
            more = with_lang("/admin/audit", person.lang, service=service, only=only or "",
                             cursor=page["next_cursor"])
    except ApiError as exc:
        error = service_message(person.lang, exc, service)
    units: dict[str, str] = {}
    targets: dict[str, str] = {}  # an entry's target by name: the award and its recipient, the tip's category
    if service == "units":
        units = await ctx.apis.unit_names(person.account, {i["target"].split("/")[0] for i in items})
    elif items:
        targets = await _target_names(ctx, request, person, service, {i["target"] for i in items})
    tabs = [(s, with_lang("/admin/audit", person.lang, service=s)) for s in AUDITED]
    return render(request, "admin_audit.html", lang=person.lang, title_key="ad.audit_title", person=person,
                  service=service, items=items, error=error, more=more, tabs=tabs, units=units, only=only,
                  targets=targets,
                  reveals_url=with_lang("/admin/audit", person.lang, service="tips", only="reveals"),
                  first_url=with_lang("/admin/audit", person.lang, service=service, only=only or "")
                  if cursor else None)


async def _target_names(ctx: ConsoleContext, request: Request, person: Person, service: str,
                        ids: set[str]) -> dict[str, str]:
    """Names for the tips or awards an audit page lists (one read each, with the admin's token)."""
    path = "/tips/" if service == "tips" else "/awards/"

    async def one(target: str) -> tuple[str, dict[str, Any] | None]:
        try:
            return target, await api(ctx, person, service, "GET", path + target)
        except ApiError:
            return target, None

    found = {t: item for t, item in await asyncio.gather(*(one(t) for t in sorted(ids))) if item}
    if service == "tips":
        categories = await ctx.apis.categories()
        return {t: categories.get(item["category"], {}).get(person.lang, TEXT[person.lang]["ad.a_tip"])
                for t, item in found.items()}
    names = await names_for(ctx, request, list(found.values()), person.lang)
    return {t: f"{names.award(item)} · {names.recipient(item)}" for t, item in found.items()}
