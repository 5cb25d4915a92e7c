"""The console's notify client reads the delivery channels from notify's `GET /channels` (a stand-in HTTP server
here: a real server on a free port, answering as the test says)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.console.clients import ApiError, ServiceApis
from services.console.domain.accounts import Account
from shared.settings import load_settings
from tests.support.notify_stand_in import CHANNELS, notify_stand_in

OFFICER = Account("o79", "officer", area="79")


class Issuer:
    def issue(self, **claims: Any) -> str:
        return "token-of-" + str(claims["sub"])


def apis(tmp_path: Path, url: str) -> ServiceApis:
    return ServiceApis(load_settings(data_dir=tmp_path, console_notify_url=url), Issuer())


async def test_the_channels_are_notify_s_list_with_their_labels_in_each_language(tmp_path: Path) -> None:
    with notify_stand_in() as notify:
        notify.answers["GET /channels"] = (200, CHANNELS)
        client = apis(tmp_path, notify.url)
        try:
            found = await client.channels(OFFICER)
            again = await client.channels(OFFICER)
        finally:
            await client.close()
    assert [c.name for c in found] == ["inbox", "email", "zalo"]
    assert [c.label("en") for c in found] == ["Inbox", "Email", "Zalo message"]
    assert [c.label("vi") for c in found] == ["Hộp thông báo", "Thư điện tử", "Tin nhắn Zalo"]
    assert [c.target for c in found] == [None, "email", "phone"]
    assert again == found
    # Asked once with the person's token (the list is cached like the other names).
    assert notify.seen == [("GET", "/channels", "Bearer token-of-o79", None)]


@pytest.mark.parametrize(("answer", "status"), [
    ((404, {"error": {"code": "not_found", "message": "no such path"}}), 404),
    ((503, {"error": {"code": "unavailable", "message": "starting"}}), 503),
    ((200, {"channels": [{"name": "inbox"}]}), 502),
    ((200, ["inbox"]), 502),
])
async def test_a_refusal_or_an_answer_of_another_shape_is_an_api_error(tmp_path: Path, answer: tuple[int, Any],
                                                                      status: int) -> None:
    with notify_stand_in() as notify:
        notify.answers["GET /channels"] = answer
        client = apis(tmp_path, notify.url)
        try:
            with pytest.raises(ApiError) as refused:
                await client.channels(OFFICER)
        finally:
            await client.close()
    assert refused.value.status == status


async def test_notify_down_is_an_api_error_and_is_not_cached(tmp_path: Path) -> None:
    with notify_stand_in() as notify:
        url = notify.url
    client = apis(tmp_path, url)  # the server is closed: nothing listens there
    try:
        with pytest.raises(ApiError) as refused:
            await client.channels(OFFICER)
        assert refused.value.status == 503
        assert "channels" not in client._cache
    finally:
        await client.close()
