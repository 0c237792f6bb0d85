"""A real browser drives the console while the daemon screens calls from the fake PBX.

Needs Debian's chromium at /usr/bin/chromium (apt-get install chromium fonts-wqy-microhei);
playwright is only the driver and never downloads a browser.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from callscreen.config import Config
from callscreen.daemon import Daemon
from callscreen.pbx.fake import FakeAsterisk, FakeCall
from callscreen.reception.accounts import create_user
from callscreen.store.reception import Employee, replace_employees

CHROMIUM = Path("/usr/bin/chromium")
# Screenshots go to tmp_path unless this variable names a folder to keep them in.
SCREENSHOT_DIR_VARIABLE = "CALLSCREEN_SCREENSHOT_DIR"
PASSWORD = "correct horse battery"
BLOCK = "1391234"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                       "(apt-get install chromium fonts-wqy-microhei)"),
]


def browser_config(folder: Path) -> Config:
    config = Config()
    return replace(
        config,
        asterisk=replace(config.asterisk, agi_port=0, ami_enabled=False),
        numbers=replace(config.numbers, area_code="021"),
        store=replace(config.store, path=str(folder / "browser.sqlite3")),
        reception=replace(config.reception, company_name="示例科技有限公司"),
        web=replace(config.web, port=0),
        notify=replace(config.notify, enabled=False),
    )


@contextlib.asynccontextmanager
async def running_system(folder: Path):
    """Start the daemon, the fake PBX and the console; yield (daemon, fake PBX, base URL)."""
    config = browser_config(folder)
    daemon = Daemon(config)
    await daemon.start()
    assert daemon.agi is not None and daemon.store is not None
    fake = FakeAsterisk(agi_port=daemon.agi.port)
    await fake.start()
    try:
        # The daemon's own console, so feedback goes through the same hooks as in production.
        yield daemon, fake, daemon.web_url
    finally:
        await fake.close()
        await daemon.close()


def screenshot_path(tmp_path: Path, name: str) -> Path:
    """Return where to write screenshot `name`: the kept folder if one is set, else tmp_path."""
    folder = Path(os.environ.get(SCREENSHOT_DIR_VARIABLE) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


async def card_score(page, number_suffix: str) -> int:
    """Wait for the card of the caller ending in `number_suffix`; return its score."""
    card = page.locator("article.call", has_text=f"****{number_suffix}").first
    await card.wait_for(timeout=10_000)
    return int(await card.locator(".score-value").inner_text())


async def test_reception_marks_collector_and_block_scores_higher(tmp_path):
    from playwright.async_api import async_playwright

    async with running_system(tmp_path) as (daemon, fake, url):
        await create_user(daemon.store.db, "前台", PASSWORD, "reception")
        await replace_employees(daemon.store.db, [Employee("E001", "张伟", "销售部", "8001",
                                                           initials="zw")],
                                now=datetime.now(UTC))
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync"])
            page = await browser.new_page(locale="zh-CN", viewport={"width": 1200,
                                                                    "height": 1400})
            await page.goto(f"{url}/login")
            await page.fill("input[name=username]", "前台")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{url}/console")
            await page.locator("#status", has_text="实时更新已连接").wait_for(timeout=5_000)

            first = asyncio.create_task(fake.place_call(FakeCall(f"{BLOCK}1201")))
            first_score = await card_score(page, "1201")
            card = page.locator("article.call", has_text="****1201").first
            await card.locator("input[name=employee]").fill("E001")
            await card.locator("input[name=note]").fill("找张伟，称要上门")
            await card.locator("button[value=collector]").click()
            await page.locator("#message", has_text="已记录反馈").wait_for(timeout=5_000)
            await first

            second = asyncio.create_task(fake.place_call(FakeCall(f"{BLOCK}1299")))
            second_score = await card_score(page, "1299")
            screenshot = screenshot_path(tmp_path, "console-zh.png")
            await page.screenshot(path=str(screenshot), full_page=True)
            await second
            await browser.close()

    assert second_score > first_score
    assert screenshot.stat().st_size > 0
