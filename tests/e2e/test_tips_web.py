"""The tips web pages in headless Chromium: submit a tip, read the receipt, follow up, read an officer's reply.

Chromium is driven over the Chrome DevTools protocol (a websocket; no extra driver package). The pages work
with the page's own script turned off (the place chosen in two steps) and with it (a dependent list with
type-ahead); the driver only fills fields, chooses options by their text and clicks buttons as a person would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from services.tips.app import build
from shared.contracts.envelope import new_event
from shared.contracts.events import UnitRegistered
from shared.settings import Settings
from shared.testing import eventually, missing_tool
from tests.console_world import over_http
from tests.integration.spine.helpers import publish_raw

CHROMIUM = os.environ.get("ANTQ_CHROMIUM", "/usr/bin/chromium")
pytestmark = pytest.mark.browser


class Page:
    """The smallest CDP client that can navigate, fill a form and read the DOM."""

    def __init__(self, ws: Any):
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids)
        await self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=20))
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete' && location.href === " + json.dumps(url))

    async def wait_for(self, condition: str, what: str = "page") -> Any:
        async def check() -> Any:
            return await self.js(f"(() => {{ try {{ return {condition}; }} catch (e) {{ return false; }} }})()")

        return await eventually(check, timeout=15, what=what)

    async def fill(self, values: dict[str, str]) -> None:
        for element_id, value in values.items():
            await self.js(f"document.getElementById({json.dumps(element_id)}).value = {json.dumps(value)}")

    async def click_and_wait(self, button_id: str, ready_element: str) -> None:
        await self.js("window.__old = true")
        await self.js(f"document.getElementById({json.dumps(button_id)}).click()")
        # A new document has no __old marker: the form was posted and its answer loaded.
        await self.wait_for(f"!window.__old && document.readyState === 'complete' && "
                            f"!!document.getElementById({json.dumps(ready_element)})", what=f"#{ready_element}")

    async def choose(self, select_id: str, text: str) -> None:
        """Choose the option a person reads, by its text, and tell the page as a person's choice would."""
        found = await self.js(f"""(() => {{
            const select = document.getElementById({json.dumps(select_id)});
            const option = [...select.options].find(o => o.text === {json.dumps(text)});
            if (!option) return false;
            select.value = option.value;
            select.dispatchEvent(new Event("change"));
            return true; }})()""")
        assert found, f"no option {text!r} in #{select_id}"

    async def options(self, select_id: str) -> list[str]:
        return list(await self.js(f"[...document.getElementById({json.dumps(select_id)}).options].map(o => o.text)"))

    async def text(self, element_id: str) -> str:
        return str(await self.js(f"document.getElementById({json.dumps(element_id)}).textContent"))


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Page]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must run the browser tests")
        missing_tool(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    profile = Path(tempfile.mkdtemp(prefix="antq-chromium-"))
    proc = subprocess.Popen([CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-dev-shm-usage", "--remote-debugging-port=0",
                             f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"

        async def port() -> int:
            text = port_file.read_text() if port_file.exists() else ""
            return int(text.splitlines()[0]) if text.strip() else 0

        devtools = await eventually(port, timeout=20, what="Chromium's DevTools port")
        async with httpx.AsyncClient() as client:
            async def page_url() -> str:
                targets = (await client.get(f"http://127.0.0.1:{devtools}/json/list")).json()
                pages = [t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"]
                return pages[0] if pages else ""

            url = await eventually(page_url, timeout=10, what="a page target")
        async with websockets.connect(url, max_size=None) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            yield page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


@contextlib.asynccontextmanager
async def tips_over_http(settings: Settings) -> AsyncIterator[tuple[str, Any]]:
    service = build(settings)
    async with over_http(service, ready_timeout=20) as base:
        yield base, service


async def test_submit_a_tip_in_the_browser_and_read_an_officers_reply_with_the_receipt(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(tips_scheduler_interval=0.5)
    async with tips_over_http(settings) as (base, service), chromium() as page, httpx.AsyncClient() as api:
        await page.call("Emulation.setScriptExecutionDisabled", value=True)  # the page's own script never runs
        await page.goto(base + "/")
        assert await page.js("document.documentElement.lang") == "vi"
        assert await page.js("document.querySelector('label[for=description]') !== null")
        assert await page.js("document.getElementById('category').value") == ""  # no kind chosen for the person
        await page.fill({"category": "theft", "description": "Mất trộm hai máy tính ở phòng kế toán",
                         "location": "Tầng 2, trụ sở công ty"})
        await page.choose("province", "Thành phố Hồ Chí Minh")
        assert not await page.js("document.getElementById('province-step').hidden")  # no script hid the step
        assert await page.options("commune") == ["— Không rõ xã, phường —"]
        await page.click_and_wait("province-step", "commune")  # the step without JavaScript: the communes
        assert "Phường Bến Thành" in await page.options("commune")
        assert await page.js("document.getElementById('description').value") == "Mất trộm hai máy tính ở phòng kế toán"
        await page.choose("commune", "Phường Bến Thành")
        await page.click_and_wait("send", "receipt")
        assert "(giờ Việt Nam, UTC+7)" in await page.js("document.body.innerText")
        receipt = (await page.text("receipt")).strip()
        assert len(receipt.replace("-", "")) == 28
        assert "MỘT lần" in await page.js("document.body.innerText")

        officer = {"Authorization": "Bearer " + service.tokens.issue(role="officer", area="79", sub="officer-79")}
        queue = (await api.get(base + "/tips", headers=officer)).json()["items"]
        assert len(queue) == 1 and queue[0]["channel"] == "web" and queue[0]["area_code"] == "79.26743"
        tip_id = queue[0]["tip_id"]
        r = await api.post(f"{base}/tips/{tip_id}/messages", headers=officer,
                           json={"text": "Cảm ơn bạn, công an phường đang xác minh."})
        assert r.status_code == 201

        await page.goto(base + "/follow-up?lang=en")
        assert await page.js("document.documentElement.lang") == "en"
        await page.fill({"receipt": receipt.lower()})
        await page.click_and_wait("look-up", "status")
        assert (await page.text("status")).strip() == "Received"
        assert "Cảm ơn bạn, công an phường đang xác minh." in await page.text("messages")

        await page.fill({"text": "Kẻ trộm đi xe máy màu đỏ."})
        await page.click_and_wait("send-reply", "notice")
        assert "Kẻ trộm đi xe máy màu đỏ." in await page.text("messages")
        detail = (await api.get(f"{base}/tips/{tip_id}", headers=officer)).json()
        assert [m["author"] for m in detail["messages"]] == ["officer", "reporter"]
        assert "receipt" not in await page.js("location.href")  # the receipt never travels in a URL

        headers = (await api.get(base + "/")).headers
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert headers["cache-control"] == "no-store"


async def test_the_place_is_chosen_from_a_dependent_list_with_type_ahead_when_javascript_runs(
        settings_factory: Callable[..., Settings]) -> None:
    async with tips_over_http(settings_factory()) as (base, service), chromium() as page, httpx.AsyncClient() as api:
        await page.goto(base + "/?lang=en")
        await page.wait_for("document.getElementById('province-step').hidden", what="the script running")
        await page.fill({"category": "theft", "description": "Two laptops stolen from the accounts office"})
        await page.choose("province", "Thành phố Hồ Chí Minh")
        await page.wait_for("document.getElementById('commune').options.length > 100", what="the communes")
        await page.js("""(() => { const s = document.getElementById("commune-search");
            s.value = "ben thanh"; s.dispatchEvent(new Event("input")); })()""")
        await page.wait_for("document.getElementById('commune').options.length === 2", what="one commune left")
        assert await page.options("commune") == ["— Commune or ward not known —", "Phường Bến Thành"]
        await page.click_and_wait("send", "receipt")
        assert "(Vietnam time, UTC+7)" in await page.js("document.body.innerText")

        officer = {"Authorization": "Bearer " + service.tokens.issue(role="officer", area="79", sub="officer-79")}
        queue = (await api.get(base + "/tips", headers=officer)).json()["items"]
        assert [t["area_code"] for t in queue] == ["79.26743"]


async def test_the_form_says_what_is_wrong_in_the_pages_language(settings_factory: Callable[..., Settings]) -> None:
    async with tips_over_http(settings_factory()) as (base, _), httpx.AsyncClient() as api:
        r = await api.post(base + "/submit", data={"lang": "en", "category": "", "description": "x",
                                                   "province": "79", "commune": "79.26744"})
        assert r.status_code == 422
        assert "Kind of incident: is missing" in r.text
        r = await api.post(base + "/submit", data={"lang": "vi", "category": "theft", "description": "x",
                                                   "province": "79", "commune": "79.26744"})
        assert r.status_code == 422 and "Không tìm thấy xã, phường này trong danh sách" in r.text
        r = await api.post(base + "/submit", data={"lang": "vi", "category": "theft", "description": "x",
                                                   "province": "79", "commune": "79.26744", "location_unknown": "1"})
        assert r.status_code == 200 and 'id="receipt"' in r.text  # "I don't know the place" is allowed


AXE = Path(__file__).with_name("vendor") / "axe.min.js"
BEN_THANH_UNITS = {"U-firm": ("Công ty TNHH Dệt May Hòa Bình", "enterprise"),
                   "U-school": ("Trường THPT Trưng Vương", "school")}


async def _register_units(settings: Settings, base: str) -> None:
    """What the units service publishes when units are registered: two in Bến Thành, one in Sài Gòn."""
    registered = [UnitRegistered(unit_id=uid, name=name, kind=kind, area_code="79.26743", in_scope=True)  # type: ignore[arg-type]
                  for uid, (name, kind) in BEN_THANH_UNITS.items()]
    registered.append(UnitRegistered(unit_id="U-elsewhere", name="Ủy ban nhân dân Phường Sài Gòn", kind="agency",
                                     area_code="79.26740", in_scope=True))
    for data in registered:
        event = new_event(data, source="antq/units")
        await publish_raw(settings.effective_nats_url(), f"{settings.namespace}.{data.TYPE}", event.to_bytes(),
                          msg_id=event.id)
    async with httpx.AsyncClient() as api:
        async def known() -> bool:
            a = (await api.get(base + "/places/79.26743/units")).json()["items"]
            b = (await api.get(base + "/places/79.26740/units")).json()["items"]
            return len(a) == 2 and len(b) == 1

        await eventually(known, timeout=15, what="the units learnt from UnitRegistered")


async def _no_serious_axe_violation(page: Page, name: str) -> None:
    """axe-core on the page as it is (run by the test: axe needs the timers a page without scripts lacks)."""
    await page.call("Emulation.setScriptExecutionDisabled", value=False)
    await page.js(AXE.read_text())
    result = await page.call("Runtime.evaluate", expression="axe.run(document, {resultTypes: ['violations']})",
                             awaitPromise=True, returnByValue=True)
    violations = result["result"]["value"]["violations"]
    bad = [(v["id"], v["impact"]) for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], f"{name}: {bad}"


async def _queued_unit(base: str, service: Any) -> list[tuple[str | None, str | None]]:
    officer = {"Authorization": "Bearer " + service.tokens.issue(role="officer", area="79", sub="officer-79")}
    async with httpx.AsyncClient() as api:
        queue = (await api.get(base + "/tips", headers=officer)).json()["items"]
        out = []
        for tip in queue:
            detail = (await api.get(f"{base}/tips/{tip['tip_id']}", headers=officer)).json()
            out.append((detail["area_code"], detail["unit_id"]))
        return out


async def test_the_unit_is_chosen_by_name_among_the_communes_units_without_javascript(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    async with tips_over_http(settings) as (base, service), chromium() as page:
        await _register_units(settings, base)
        await page.call("Emulation.setScriptExecutionDisabled", value=True)
        await page.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1,
                        mobile=True)
        await page.goto(base + "/")
        assert await page.options("unit") == ["— Không biết / không liên quan đơn vị nào —"]
        await page.fill({"category": "fraud", "description": "Lừa đảo tuyển dụng lao động tại công ty"})
        await page.choose("province", "Thành phố Hồ Chí Minh")
        await page.click_and_wait("province-step", "commune-step")
        await page.choose("commune", "Phường Bến Thành")
        await page.click_and_wait("commune-step", "unit")  # the step without JavaScript: the commune's units
        assert await page.options("unit") == ["— Không biết / không liên quan đơn vị nào —",
                                              "Công ty TNHH Dệt May Hòa Bình (Doanh nghiệp)",
                                              "Trường THPT Trưng Vương (Trường học)"]
        assert await page.js("document.getElementById('commune').value") == "79.26743"  # still chosen
        assert "U-firm" not in await page.js("document.body.innerText")  # ids are values, never shown
        assert await page.js("document.getElementById('description').value") == \
            "Lừa đảo tuyển dụng lao động tại công ty"
        await _no_serious_axe_violation(page, "the form with a commune's units")
        assert await page.js("document.documentElement.scrollWidth <= 390")  # no sideways scrolling on a phone
        await page.choose("unit", "Công ty TNHH Dệt May Hòa Bình (Doanh nghiệp)")
        await page.click_and_wait("send", "receipt")
        assert await _queued_unit(base, service) == [("79.26743", "U-firm")]


async def test_the_unit_is_chosen_from_a_dependent_list_with_type_ahead_when_javascript_runs(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    async with tips_over_http(settings) as (base, service), chromium() as page:
        await _register_units(settings, base)
        await page.goto(base + "/?lang=en")
        await page.wait_for("document.getElementById('province-step').hidden", what="the script running")
        await page.fill({"category": "theft", "description": "Copper cable stolen from the school's yard"})
        await page.choose("province", "Thành phố Hồ Chí Minh")
        await page.wait_for("document.getElementById('commune').options.length > 100", what="the communes")
        assert await page.js("document.getElementById('commune-step') === null || "
                             "document.getElementById('commune-step').hidden")
        await page.js("""(() => { const s = document.getElementById("commune-search");
            s.value = "ben thanh"; s.dispatchEvent(new Event("input")); })()""")
        await page.wait_for("document.getElementById('unit').options.length === 3", what="Bến Thành's units")
        assert await page.options("unit") == ["— I don't know / no unit —",
                                              "Công ty TNHH Dệt May Hòa Bình (Enterprise)",
                                              "Trường THPT Trưng Vương (School)"]
        await page.js("""(() => { const s = document.getElementById("unit-search");
            s.value = "trung vuong"; s.dispatchEvent(new Event("input")); })()""")
        await page.wait_for("document.getElementById('unit').options.length === 2", what="one unit left")
        assert await page.js("document.getElementById('unit').value") == "U-school"
        # Another commune: its own units only.
        await page.js("""(() => { const s = document.getElementById("commune-search");
            s.value = ""; s.dispatchEvent(new Event("input")); })()""")
        await page.choose("commune", "Phường Sài Gòn")
        await page.wait_for("document.getElementById('unit').options.length === 2 && "
                            "document.getElementById('unit').options[1].text.startsWith('Ủy ban')",
                            what="Sài Gòn's unit")
        await page.choose("commune", "Phường Bến Thành")
        await page.wait_for("document.getElementById('unit').options.length === 3", what="Bến Thành's units")
        await page.choose("unit", "Trường THPT Trưng Vương (School)")
        await page.click_and_wait("send", "receipt")
        assert await _queued_unit(base, service) == [("79.26743", "U-school")]


async def test_a_unit_of_another_commune_is_refused_with_a_readable_message(
        settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory()
    async with tips_over_http(settings) as (base, service), httpx.AsyncClient() as api:
        await _register_units(settings, base)
        form = {"lang": "en", "category": "theft", "description": "x", "province": "79", "commune": "79.26740",
                "unit": "U-firm"}
        r = await api.post(base + "/submit", data=form)
        assert r.status_code == 422 and "The unit chosen is not in this commune or ward" in r.text
        assert "Ủy ban nhân dân Phường Sài Gòn (Agency)" in r.text  # the commune's own units, to choose again
        r = await api.post(base + "/submit", data={**form, "commune": "79.26743"})
        assert r.status_code == 200 and 'id="receipt"' in r.text
        assert await _queued_unit(base, service) == [("79.26743", "U-firm")]
