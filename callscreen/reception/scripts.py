"""Reply scripts: what reception says to each kind of caller, from jinja2 templates.

Templates live in `scripts/<locale>/<situation>.j2` and define four blocks: `say`,
`never_disclose`, `write_down` and `next_step`. Admins override a template by putting a file
of the same relative name in `[reception] scripts_dir`. Because admins edit them, templates
run in jinja2's sandbox with autoescaping and StrictUndefined. `check()` reports broken
templates for `callscreen check-config`; `render()` never raises, because it runs while
the phone rings: a broken override falls back to the built-in script.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import structlog
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from callscreen.config import Config
from callscreen.i18n import DEFAULT_LOCALE, LOCALES, t

log = structlog.get_logger(__name__)

# The repository's scripts/ folder; an installed package without it must pass builtin_dir.
BUILTIN_SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"

SITUATIONS = ("normal", "collector", "repeat_collector", "anonymous", "employment_check",
              "official", "abusive")
SECTIONS = ("say", "never_disclose", "write_down", "next_step")
SAMPLE_ORGANISATIONS = ("", "某某资产管理有限公司 <&>")

# Exceptions a sandboxed template can raise at render time: jinja2's own errors (undefined
# variables, sandbox violations) and those of the Python operations it may perform.
RENDER_ERRORS = (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
                 AttributeError, RecursionError, OSError)


@dataclass(frozen=True, slots=True)
class ScriptSection:
    """One part of a rendered script, as plain text (escape it where it is shown)."""

    name: str
    heading: str
    text: str


@dataclass(frozen=True, slots=True)
class RenderedScript:
    """A reply script rendered for one call."""

    situation: str
    locale: str
    sections: tuple[ScriptSection, ...]

    @property
    def say(self) -> str:
        """Return the words to say, the part a desk phone has room for."""
        return next((s.text for s in self.sections if s.name == "say"), "")

    @property
    def text(self) -> str:
        """Return every section with its heading, as plain text."""
        return "\n\n".join(f"{s.heading}\n{s.text}" for s in self.sections if s.text)


@dataclass(frozen=True, slots=True)
class ScriptProblem:
    """A broken template found by `check()`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def situation_for(category: str) -> str:
    """Return the script situation for a classifier category; unknown ones get `normal`."""
    return category if category in SITUATIONS else "normal"


def greeting_for(moment: datetime, locale: str) -> str:
    """Return the time-of-day greeting for a local time."""
    if 5 <= moment.hour < 12:
        part = "morning"
    elif 12 <= moment.hour < 18:
        part = "afternoon"
    else:
        part = "evening"

    return t(f"script.greeting.{part}", locale)


def _environment(loader: jinja2.BaseLoader) -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
    )


def _plain(parts: list[str]) -> str:
    # Autoescaping produced HTML-safe text, which Markup only wraps in order to unescape it.
    # Callers escape again for their own format (HTML, XML, JSON), so plain text travels.
    text = Markup("".join(parts)).unescape()  # noqa: S704
    text = re.sub(r"[ \t]+\n", "\n", text)

    return re.sub(r"\n{3,}", "\n\n", text).strip()


class ScriptRenderer:
    """Renders reply scripts; built-in templates, overridden file by file from a folder."""

    def __init__(self, config: Config, *, builtin_dir: Path | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._reception = config.reception
        self._zone = ZoneInfo(config.numbers.time_zone)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.builtin_dir = builtin_dir or BUILTIN_SCRIPTS_DIR
        self.override_dir = Path(config.reception.scripts_dir) if config.reception.scripts_dir \
            else None

        builtin_loader = jinja2.FileSystemLoader(self.builtin_dir)
        loaders: list[jinja2.BaseLoader] = [builtin_loader]
        if self.override_dir is not None:
            loaders.insert(0, jinja2.FileSystemLoader(self.override_dir))
        self._env = _environment(jinja2.ChoiceLoader(loaders))
        self._builtin_env = _environment(builtin_loader)

    def variables(self, locale: str, *, caller_org: str = "") -> dict[str, str]:
        """Return the variables every template receives."""
        local_now = self._clock().astimezone(self._zone)

        reception = self._reception
        english = locale == "en"

        return {
            "company_name": (english and reception.company_name_en) or reception.company_name,
            "receptionist_name": ((english and reception.receptionist_name_en)
                                  or reception.receptionist_name),
            "greeting": greeting_for(local_now, locale),
            "caller_org": caller_org,
        }

    def render(self, situation: str, locale: str = DEFAULT_LOCALE, *,
               caller_org: str = "") -> RenderedScript:
        """Render the script for `situation` in `locale`; never raises.

        An unknown situation renders `normal`, an unknown locale the default one. A template
        that fails is replaced by the built-in one and logged at ERROR.
        """
        situation = situation if situation in SITUATIONS else "normal"
        locale = locale if locale in LOCALES else DEFAULT_LOCALE
        variables = self.variables(locale, caller_org=caller_org)

        sections = self._render_with(self._env, situation, locale, variables)
        if sections is None:
            sections = self._render_with(self._builtin_env, situation, locale, variables)
        if sections is None:
            sections = (ScriptSection("say", t("script.section.say", locale),
                                      t("script.fallback", locale)),)

        return RenderedScript(situation=situation, locale=locale, sections=sections)

    def _render_with(self, env: SandboxedEnvironment, situation: str, locale: str,
                     variables: dict[str, str]) -> tuple[ScriptSection, ...] | None:
        name = f"{locale}/{situation}.j2"
        try:
            template = env.get_template(name)
            return tuple(
                ScriptSection(section, t(f"script.section.{section}", locale),
                              _render_block(template, section, variables))
                for section in SECTIONS
            )
        except RENDER_ERRORS as exc:
            log.error("script_render_failed", template=name, error=str(exc),
                      line=_template_line(exc), builtin=env is self._builtin_env)
            return None

    def check(self) -> list[ScriptProblem]:
        """Compile and trial-render every template that would be used; return the problems."""
        problems: list[ScriptProblem] = []
        for folder in [self.builtin_dir, self.override_dir]:
            if folder is not None:
                problems.extend(_unknown_files(folder))

        for locale in LOCALES:
            for situation in SITUATIONS:
                problems.extend(self._check_template(f"{locale}/{situation}.j2"))

        return problems

    def _check_template(self, name: str) -> list[ScriptProblem]:
        try:
            template = self._env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            return [ScriptProblem(exc.filename or name, exc.lineno, f"语法错误 / syntax error: "
                                  f"{exc.message}")]
        except jinja2.TemplateNotFound:
            return [ScriptProblem(name, 0, "缺少模板 / template missing")]

        file = template.filename or name
        missing = [section for section in SECTIONS if section not in template.blocks]
        if missing:
            return [ScriptProblem(file, 0, f"缺少区块 / missing blocks: {', '.join(missing)}")]

        return self._trial_render(template, file, name.split("/")[0])

    def _trial_render(self, template: jinja2.Template, file: str,
                      locale: str) -> list[ScriptProblem]:
        for organisation in SAMPLE_ORGANISATIONS:
            variables = self.variables(locale, caller_org=organisation)
            for section in SECTIONS:
                try:
                    _render_block(template, section, variables)
                except RENDER_ERRORS as exc:
                    return [ScriptProblem(file, _template_line(exc),
                                          f"渲染失败 / render failed in block {section}: {exc}")]

        return []


def _render_block(template: jinja2.Template, section: str, variables: Mapping[str, str]) -> str:
    block = template.blocks.get(section)
    if block is None:
        raise jinja2.TemplateRuntimeError(f"template {template.name} has no block {section!r}")

    context = template.new_context(dict(variables))
    try:
        parts = list(block(context))
    except RENDER_ERRORS:
        # Rewrites the traceback so that its frames carry template line numbers.
        template.environment.handle_exception()

    return _plain(parts)


def _template_line(exc: BaseException) -> int:
    """Return the template line of a render error, from jinja2's rewritten traceback."""
    line = getattr(exc, "lineno", None) or 0
    frame: types.TracebackType | None = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_code.co_filename.endswith(".j2"):
            line = frame.tb_lineno
        frame = frame.tb_next

    return int(line)


def _unknown_files(folder: Path) -> list[ScriptProblem]:
    if not folder.is_dir():
        return [ScriptProblem(str(folder), 0, "话术目录不存在 / scripts folder not found")]

    known = {f"{locale}/{situation}.j2" for locale in LOCALES for situation in SITUATIONS}
    return [
        ScriptProblem(str(path), 0, "未知的话术文件（文件名拼错？） / unknown script file "
                      f"(a typo?); known names: <locale>/{{{','.join(SITUATIONS)}}}.j2")
        for path in sorted(folder.rglob("*.j2"))
        if path.relative_to(folder).as_posix() not in known
    ]
