"""A real browser logs in as admin and presses the reload button on /admin.

Needs Debian's chromium at /usr/bin/chromium (apt-get install chromium fonts-wqy-microhei);
playwright is only the driver and never downloads a browser.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import PASSWORD, WEB_ON_LOOPBACK, AdminSite, ConfigWriter

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                       "(apt-get install chromium fonts-wqy-microhei)"),
]


async def test_admin_presses_reload_and_sees_result(admin_site: AdminSite,
                                                    write_config: ConfigWriter,
                                                    tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    url = admin_site.url
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                   args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="zh-CN",
                                          viewport={"width": 1200, "height": 900})
            await page.goto(f"{url}/login?next=/admin")
            await page.fill("input[name=username]", "管理员")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{url}/admin")
            await page.locator("#health", has_text="FastAGI").wait_for(timeout=5_000)

            write_config(rules="flag_threshold = 0", extra=WEB_ON_LOOPBACK)
            await page.click("#reload")
            error = page.locator("#admin-error", has_text="flag_threshold")
            await error.wait_for(timeout=10_000)
            await page.screenshot(path=str(tmp_path / "admin-reload-rejected.png"),
                                  full_page=True)

            write_config(rules="flag_threshold = 20", extra=WEB_ON_LOOPBACK)
            await page.click("#reload")
            message = page.locator("#admin-message", has_text="配置已重新加载")
            await message.wait_for(timeout=10_000)
            await page.screenshot(path=str(tmp_path / "admin-reload-ok.png"), full_page=True)
            health_text = await page.locator("#health").inner_text()
        finally:
            await browser.close()

    assert (tmp_path / "admin-reload-rejected.png").stat().st_size > 0
    assert (tmp_path / "admin-reload-ok.png").stat().st_size > 0
    assert "成功" in health_text
    assert admin_site.daemon.config.rules.flag_threshold == 20
