"""Reply scripts: built-in templates, overrides, checks and the ring-time fallback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from callscreen.config import Config
from callscreen.config.model import ReceptionConfig
from callscreen.i18n import LOCALES
from callscreen.reception.scripts import (
    SECTIONS,
    SITUATIONS,
    ScriptRenderer,
    greeting_for,
    situation_for,
)

NOON_UTC = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)  # 09:30 in Asia/Shanghai


def renderer_with(override: Path | None = None) -> ScriptRenderer:
    reception = ReceptionConfig(company_name="示例科技", receptionist_name="小王",
                                scripts_dir=str(override) if override else "")
    return ScriptRenderer(Config(reception=reception), clock=lambda: NOON_UTC)


def write_override(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


VALID_OVERRIDE = ("{% block say %}自定义：{{ company_name }}{% endblock %}"
                  "{% block never_disclose %}-{% endblock %}{% block write_down %}-{% endblock %}"
                  "{% block next_step %}-{% endblock %}")


def test_builtin_scripts_pass_check():
    assert renderer_with().check() == []


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_every_situation_has_every_section(situation, locale):
    script = renderer_with().render(situation, locale)

    assert [s.name for s in script.sections] == list(SECTIONS)
    assert all(section.text for section in script.sections)


def test_script_uses_company_receptionist_and_greeting():
    script = renderer_with().render("collector", "zh-CN")

    assert script.say.startswith("上午好，这里是示例科技前台，我是小王。")


def test_english_script_uses_english_names():
    reception = ReceptionConfig(company_name="示例科技", receptionist_name="小王",
                                company_name_en="Example Tech", receptionist_name_en="Wang")
    renderer = ScriptRenderer(Config(reception=reception), clock=lambda: NOON_UTC)

    english = renderer.render("collector", "en")
    chinese = renderer.render("collector", "zh-CN")

    assert english.say.startswith("Good morning, Example Tech reception, this is Wang speaking.")
    assert chinese.say.startswith("上午好，这里是示例科技前台，我是小王。")


def test_english_script_falls_back_to_chinese_names():
    script = renderer_with().render("collector", "en")

    assert script.say.startswith("Good morning, 示例科技 reception, this is 小王 speaking.")


def test_collector_script_states_both_rules():
    say = renderer_with().render("collector", "zh-CN").say

    assert "《个人信息保护法》第二十三条" in say
    assert "单独同意" in say
    assert "《商业银行信用卡业务监督管理办法》第六十八条" in say
    assert "与债务无关的第三人" in say


def test_caller_organisation_is_inserted_as_plain_text():
    script = renderer_with().render("collector", "en", caller_org="<b>{{7*7}}</b> & Co")

    assert "You are calling from <b>{{7*7}}</b> & Co, is that right?" in script.say
    assert "49" not in script.text


def test_unknown_situation_renders_normal_script():
    script = renderer_with().render("no_such_situation", "zh-CN")

    assert script.situation == "normal"


def test_unknown_category_maps_to_normal():
    assert situation_for("robocall") == "normal"


def test_override_file_wins(tmp_path):
    write_override(tmp_path, "zh-CN/collector.j2", VALID_OVERRIDE)

    script = renderer_with(tmp_path).render("collector", "zh-CN")

    assert script.say == "自定义：示例科技"


def test_override_of_one_file_keeps_other_builtins(tmp_path):
    write_override(tmp_path, "zh-CN/collector.j2", VALID_OVERRIDE)

    script = renderer_with(tmp_path).render("official", "zh-CN")

    assert "书面文件" in script.say


def test_check_reports_syntax_error_with_file_and_line(tmp_path):
    path = write_override(tmp_path, "zh-CN/collector.j2", "{% block say %}\n\n{% if %}\n")

    problems = renderer_with(tmp_path).check()

    assert len(problems) == 1
    assert problems[0].file == str(path)
    assert problems[0].line == 3


def test_check_reports_undefined_variable_with_line(tmp_path):
    text = VALID_OVERRIDE.replace("{{ company_name }}", "\n\n{{ employee_mobile }}")
    write_override(tmp_path, "en/collector.j2", text)

    problems = renderer_with(tmp_path).check()

    assert len(problems) == 1
    assert "employee_mobile" in problems[0].message
    assert problems[0].line == 3


def test_check_reports_missing_block(tmp_path):
    write_override(tmp_path, "en/normal.j2", "{% block say %}hi{% endblock %}")

    problems = renderer_with(tmp_path).check()

    assert "never_disclose" in problems[0].message


def test_check_reports_sandbox_escape_attempt(tmp_path):
    text = VALID_OVERRIDE.replace("{{ company_name }}",
                                  "{{ ''.__class__.__mro__[1].__subclasses__() }}")
    write_override(tmp_path, "zh-CN/normal.j2", text)

    problems = renderer_with(tmp_path).check()

    assert len(problems) == 1
    assert "render failed" in problems[0].message


def test_check_reports_misspelled_file_name(tmp_path):
    write_override(tmp_path, "zh-CN/colector.j2", VALID_OVERRIDE)

    problems = renderer_with(tmp_path).check()

    assert problems[0].file.endswith("colector.j2")


def test_broken_override_falls_back_to_builtin_at_ring_time(tmp_path):
    write_override(tmp_path, "zh-CN/collector.j2",
                   VALID_OVERRIDE.replace("{{ company_name }}", "{{ 1 / 0 }}"))

    script = renderer_with(tmp_path).render("collector", "zh-CN")

    assert "单独同意" in script.say


def test_missing_builtin_folder_still_renders_fallback(tmp_path):
    renderer = ScriptRenderer(Config(), builtin_dir=tmp_path / "absent")

    script = renderer.render("collector", "zh-CN")

    assert "不提供任何人的联系方式" in script.say


@pytest.mark.parametrize(("hour", "expected"), [(6, "上午好"), (13, "下午好"), (23, "晚上好"),
                                                 (2, "晚上好")])
def test_greeting_follows_local_hour(hour, expected):
    assert greeting_for(datetime(2026, 2, 28, hour, 0), "zh-CN") == expected
