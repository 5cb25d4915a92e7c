"""The preferences page offers the channels notify lists (`GET /channels`), labelled in the page's language, and
says so readably when notify gives no list. Notify is a stand-in HTTP server here (a real server on a free port);
the console runs on its real database."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from services.console.app import build
from services.console.domain.accounts import Account
from services.notify.domain.channels import all_channels
from shared.settings import Settings
from shared.testing import running
from tests.console_world import PASSWORD, console_world, csrf_of, sign_in
from tests.support.notify_stand_in import CHANNELS, notify_stand_in

PREFERENCES = {"language": "vi", "channels": ["inbox"], "quiet_hours": None, "mode": "instant", "digest_at": None,
               "timezone": "Asia/Ho_Chi_Minh", "email": None, "phone": None}


async def test_the_page_offers_notify_s_channels_in_the_page_s_language_and_saves_the_choice(
        settings_factory: Callable[..., Settings]) -> None:
    with notify_stand_in() as notify:
        notify.answers.update({"GET /channels": (200, CHANNELS), "GET /preferences": (200, PREFERENCES),
                               "PUT /preferences": (200, PREFERENCES)})
        service = build(settings_factory(console_argon2_profile="fast", console_notify_url=notify.url))
        async with running(service) as client:
            await service.app.state.ctx.accounts.add(Account("o79", "officer", area="79"), PASSWORD,
                                                       now=service.clock())
            await sign_in(client, "o79")
            page = await client.get("/me/preferences?lang=en")
            assert page.status_code == 200
            labels = re.findall(r'<label for="channel-(\w+)">([^<]+)</label>', page.text)
            assert labels == [("inbox", "Inbox"), ("email", "Email"), ("zalo", "Zalo message")]
            assert re.search(r'id="channel-inbox"[^>]* checked', page.text)
            assert not re.search(r'id="channel-zalo"[^>]* checked', page.text)
            vi = await client.get("/me/preferences")
            assert "Tin nhắn Zalo" in vi.text

            saved = await client.post("/me/preferences?lang=en", data={
                "csrf": csrf_of(page.text), "language": "en", "channels": ["zalo", "carrier-pigeon"]})
            assert saved.status_code == 200
    put = [body for method, path, _, body in notify.seen if (method, path) == ("PUT", "/preferences")]
    assert put[0]["channels"] == ["zalo"]  # only a channel notify offers


async def test_without_notify_s_list_the_page_says_so_and_a_save_keeps_the_channels(
        settings_factory: Callable[..., Settings]) -> None:
    with notify_stand_in() as notify:  # an older notify: GET /channels is 404
        notify.answers.update({"GET /preferences": (200, PREFERENCES), "PUT /preferences": (200, PREFERENCES)})
        service = build(settings_factory(console_argon2_profile="fast", console_notify_url=notify.url))
        async with running(service) as client:
            await service.app.state.ctx.accounts.add(Account("o79", "officer", area="79"), PASSWORD,
                                                       now=service.clock())
            await sign_in(client, "o79")
            page = await client.get("/me/preferences?lang=en")
            assert page.status_code == 200
            assert 'id="channels-unavailable"' in page.text and "could not be read" in page.text
            assert 'name="channels"' not in page.text
            saved = await client.post("/me/preferences?lang=en", data={"csrf": csrf_of(page.text),
                                                                         "language": "en"})
            assert saved.status_code == 200
    put = [body for method, path, _, body in notify.seen if (method, path) == ("PUT", "/preferences")]
    assert put[0]["channels"] == ["inbox"]  # as they were


async def test_with_the_real_notify_the_page_lists_notify_s_channel_table(
        settings_factory: Callable[..., Settings]) -> None:
    """The console's page and notify's channel-traits table agree: no list of channels is kept in the console."""
    async with console_world(settings_factory) as world, \
            httpx.AsyncClient(base_url=world.urls["console"], timeout=30) as client:
        await world.console.app.state.ctx.accounts.add(Account("o79", "officer", area="79"), PASSWORD,
                                                       now=world.console.clock())
        await sign_in(client, "o79")
        vi = await client.get("/me/preferences")
        en = await client.get("/me/preferences?lang=en")
    assert vi.status_code == en.status_code == 200
    table = all_channels()
    assert re.findall(r'<label for="channel-(\w+)">([^<]+)</label>', vi.text) == [
        (c.name, c.label_vi) for c in table]
    assert re.findall(r'<label for="channel-(\w+)">([^<]+)</label>', en.text) == [
        (c.name, c.label_en) for c in table]
