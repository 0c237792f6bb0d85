"""Knowledge-base redaction removes every form of the employee's identity and keeps the rest."""

from __future__ import annotations

import pytest

from callscreen.cases.redact import MASK, redact

NAMES = ["张伟", "E1001"]
PINYIN = ["zhangwei"]


@pytest.mark.parametrize(("text", "gone"), [
    ("张伟接到电话", "张伟"),
    ("張偉接到电话", "張偉"),
    ("zhangwei 接到电话", "zhangwei"),
    ("Zhang Wei 接到电话", "Zhang Wei"),
    ("ZHANG-WEI 接到电话", "ZHANG-WEI"),
    ("Wei Zhang 接到电话", "Wei Zhang"),
    ("小张接到电话", "小张"),
    ("老张接到电话", "老张"),
    ("张总接到电话", "张总"),
    ("张经理接到电话", "张经理"),
    ("小張接到电话", "小張"),
    ("張總接到电话", "張總"),
    ("工号 E1001", "E1001"),
    ("来电 139－1234－5678", "1234"),
    ("来电 139.1234.5678", "1234"),
    ("来电 139 1234 5678", "1234"),
    ("来电 １３９１２３４５６７８", "１２３４"),
    ("来电 +86 139 1234 5678", "1234"),
    ("身份证 11010519491231002X", "002X"),
    ("身份证 11010519491231002x", "002x"),
    ("邮件 zhang.wei@example.com", "example"),
])
def test_redact_removes_identity(text: str, gone: str) -> None:
    redacted = redact(text, names=NAMES, pinyin=PINYIN)

    assert gone not in redacted
    assert MASK in redacted


def test_redact_masks_whole_id_number() -> None:
    assert redact("身份证 11010519491231002X 已核实", names=NAMES) == f"身份证 {MASK} 已核实"


def test_redact_masks_whole_phone_number() -> None:
    assert redact("来电 139－1234－5678。", names=NAMES) == f"来电 {MASK}。"


@pytest.mark.parametrize("text", [
    "提供理财咨询，约定与催收方书面沟通",
    "每天小于3次，每次半小时",
    "张贴通知，总经理已知悉",
    "Zhangjiang office, weekly review",
    "见第12条第3款",
    "共 2 天",
    "EXTRA care taken",
])
def test_redact_keeps_unrelated_text(text: str) -> None:
    assert redact(text, names=NAMES, pinyin=PINYIN) == text


def test_redact_keeps_lookalike_of_surname() -> None:
    assert redact("每天小于3次", names=["于洋"]) == "每天小于3次"
