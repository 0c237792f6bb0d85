"""The organisation a caller named reaches the console card of the number's next call."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callscreen.config import Config
from callscreen.config.model import RulesConfig
from callscreen.daemon import Daemon
from callscreen.numbers.normalise import normalise
from callscreen.pbx.fake import FakeAsterisk, FakeCall
from callscreen.recent import RecentHistory
from callscreen.store import Store

NOW = datetime(2028, 2, 29, 9, 30, tzinfo=UTC)
RULES = RulesConfig()
NUMBER = "17055661201"


async def add_tag(store: Store, number: str, caller_org: str, days_ago: float) -> None:
    facts = normalise(number)
    await store.add_tag(caller_key=facts.key, caller_block=facts.block, tag="collector",
                        author="前台", created_at=NOW - timedelta(days=days_ago),
                        caller_org=caller_org)


async def test_latest_named_organisation_wins(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "calls.sqlite3")
    recent = RecentHistory(RULES)
    try:
        await add_tag(store, NUMBER, "甲资产管理公司", days_ago=3)
        await add_tag(store, NUMBER, "乙律师事务所", days_ago=2)
        await add_tag(store, NUMBER, "", days_ago=1)
        await recent.load(store, NOW)
    finally:
        await store.close()

    assert recent.stated_org(normalise(NUMBER).key) == "乙律师事务所"
    assert recent.stated_org(normalise("17055661202").key) == ""


async def test_organisation_from_later_tag_is_read(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "calls.sqlite3")
    recent = RecentHistory(RULES)
    try:
        await recent.load(store, NOW)
        await add_tag(store, NUMBER, "丙信息咨询公司", days_ago=0)
        await recent.refresh_tags(store, NOW)
    finally:
        await store.close()

    assert recent.stated_org(normalise(NUMBER).key) == "丙信息咨询公司"


async def test_prune_forgets_old_organisation(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "calls.sqlite3")
    recent = RecentHistory(RULES)
    try:
        await add_tag(store, NUMBER, "甲资产管理公司", days_ago=1)
        await recent.load(store, NOW)
    finally:
        await store.close()

    recent.prune(NOW + timedelta(days=RULES.reputation_max_age_days))

    assert recent.stated_org(normalise(NUMBER).key) == ""


async def test_next_call_card_shows_organisation(tmp_path: Path) -> None:
    config = Config()
    config = replace(config,
                     asterisk=replace(config.asterisk, agi_port=0, ami_enabled=False),
                     store=replace(config.store, path=str(tmp_path / "calls.sqlite3")),
                     web=replace(config.web, enabled=False))
    daemon = Daemon(config)
    await daemon.start()
    try:
        assert daemon.store is not None and daemon.agi is not None
        facts = normalise(NUMBER)
        await daemon.store.add_tag(caller_key=facts.key, caller_block=facts.block,
                                   tag="collector", author="前台", caller_org="甲资产管理公司")
        await daemon.recent.refresh_tags(daemon.store, datetime.now(UTC))

        fake = FakeAsterisk(agi_port=daemon.agi.port)
        await fake.start()
        try:
            result = await fake.place_call(FakeCall(NUMBER, talk_seconds=0))
        finally:
            await fake.close()
        cards = [call for call in daemon.hub.active() if call.caller_key == facts.key]
    finally:
        await daemon.close()

    assert result.agi_status == "SUCCESS"
    assert [card.caller_org for card in cards] == ["甲资产管理公司"]
