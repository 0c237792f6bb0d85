"""Load a TOML file and validate it completely against `model.Config`.

Every problem is collected, not just the first, and each names the file, the key, the bad
value and what is allowed, in Chinese with English beside it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import tomllib
import zoneinfo
from pathlib import Path
from typing import Any, get_type_hints

import phonenumbers

from callscreen.config.model import Config
from callscreen.errors import ConfigError
from callscreen.i18n import both

# Allow/block list entries in the config file: an exact number, or a prefixed pattern.
LIST_PATTERN = re.compile(r"^(?:\+?\d{3,20}|(?:prefix|block):\+?\d{2,20}|svc:\d{3,8})$")


def load_config(path: str | Path) -> Config:
    """Read and validate `path`; raise ConfigError listing every problem."""
    path = Path(path)
    raw = _read_toml(path)

    problems: list[str] = []
    sections: dict[str, Any] = {}
    hints = get_type_hints(Config)
    for name, value in raw.items():
        if name == "source" or name not in hints:
            problems.append(_problem(path, name, "", value, "config.unknown_section",
                                     allowed=", ".join(_section_names())))
            continue
        if not isinstance(value, dict):
            problems.append(_problem(path, name, "", value, "config.not_a_table"))
            continue
        sections[name] = _build_section(path, name, hints[name], value, problems)

    if not problems:
        problems.extend(_check_relations(path, sections))
    if problems:
        raise ConfigError(str(path), problems)
    return Config(**sections, source=str(path))


def _check_relations(path: Path, sections: dict[str, Any]) -> list[str]:
    problems = []
    rules = sections.get("rules")
    if rules is not None and rules.block_threshold <= rules.flag_threshold:
        problems.append(_problem(path, "rules", "block_threshold", rules.block_threshold,
                                 "config.block_below_flag"))
    notify = sections.get("notify")
    if notify is not None and notify.enabled:
        # Imported here: the notify package imports the config package.
        from callscreen.notify.outbox import validate_channels

        try:
            validate_channels(notify, str(path))
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = both("config.unreadable", path=path, error=exc.strerror)
        raise ConfigError(str(path), [problem]) from exc

    try:
        # Notepad on Chinese Windows saves UTF-8 with a BOM; TOML itself does not allow one.
        return tomllib.loads(data.decode("utf-8").removeprefix("\ufeff"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), [both("config.not_utf8", path=path)]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [both("config.bad_toml", path=path, error=exc)]) from exc


def _section_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config) if f.name != "source"]


def _build_section(path: Path, section: str, cls: type, values: dict[str, Any],
                   problems: list[str]) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    accepted: dict[str, Any] = {}

    for key, value in values.items():
        if key not in fields:
            problems.append(_problem(path, section, key, value, "config.unknown_key",
                                     allowed=", ".join(fields)))
            continue
        error = _check_value(hints[key], dict(fields[key].metadata), value)
        if error is not None:
            message_id, params = error
            problems.append(_problem(path, section, key, value, message_id, **params))
            continue
        accepted[key] = float(value) if hints[key] is float else value

    return cls(**accepted)


def _check_value(hint: Any, meta: dict[str, Any], value: Any) -> tuple[str, dict[str, Any]] | None:
    origin = getattr(hint, "__origin__", hint)
    if origin is bool:
        return None if isinstance(value, bool) else ("config.want_bool", {})
    if origin is int:
        if isinstance(value, bool) or not isinstance(value, int):
            return ("config.want_int", {})
        return _check_range(meta, value)
    if origin is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ("config.want_number", {})
        if not math.isfinite(value):
            return ("config.not_finite", {})
        return _check_range(meta, value)
    if origin is str:
        return _check_str(meta, value)
    if origin is list:
        return _check_list(meta, value)
    if origin is dict:
        return _check_dict(meta, value)
    return None


def _check_range(meta: dict[str, Any], value: float) -> tuple[str, dict[str, Any]] | None:
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return ("config.out_of_range", {"low": low, "high": high})
    return None


def _check_str(meta: dict[str, Any], value: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(value, str):
        return ("config.want_str", {})
    if "choices" in meta and value not in meta["choices"]:
        return ("config.want_choice", {"allowed": ", ".join(meta["choices"])})
    if len(value) < meta.get("min_len", 0) or len(value) > meta.get("max_len", 10_000):
        return ("config.bad_length", {"low": meta.get("min_len", 0),
                                      "high": meta.get("max_len", 10_000)})
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        return (meta.get("format_error", "config.bad_pattern"), {"pattern": meta["pattern"]})
    if meta.get("time_zone") and not _is_time_zone(value):
        return ("config.bad_time_zone", {})
    if meta.get("host") and not value.strip():
        return ("config.bad_host", {})
    if meta.get("region") and value not in phonenumbers.SUPPORTED_REGIONS:
        return ("config.bad_region", {})
    if meta.get("url") and value and not value.startswith(("http://", "https://")):
        return ("config.bad_url", {})
    return None


def _check_list(meta: dict[str, Any], value: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return ("config.want_str_list", {})
    if len(value) < meta.get("min_len", 0):
        return ("config.empty_list", {})
    if meta.get("list_pattern"):
        bad = [item for item in value if not LIST_PATTERN.match(item)]
        if bad:
            return ("config.bad_list_entry", {"entry": ", ".join(bad)})
    if meta.get("ip_addresses"):
        bad = [item for item in value if not _is_ip_address(item)]
        if bad:
            return ("config.bad_ip_address", {"entry": ", ".join(bad)})
    if "items" in meta:
        unknown = [item for item in value if item not in meta["items"]]
        if unknown:
            return ("config.bad_category", {"entry": unknown[0],
                                            "allowed": ", ".join(meta["items"])})
    return None


def _check_dict(meta: dict[str, Any], value: Any) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(value, dict):
        return ("config.want_table", {})

    for key, item in value.items():
        if "keys" in meta and key not in meta["keys"]:
            return ("config.unknown_subkey", {"subkey": key, "allowed": ", ".join(meta["keys"])})
        if isinstance(item, bool) or not isinstance(item, int):
            return ("config.want_int_in_table", {"subkey": key})
        if _check_range(meta, item) is not None:
            return ("config.out_of_range", {"low": meta.get("min"), "high": meta.get("max")})
    return None


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _is_time_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _problem(path: Path, section: str, key: str, value: Any, message_id: str,
             **params: Any) -> str:
    where = f"[{section}] {key}" if key else f"[{section}]"
    shown = "******" if "secret" in key else repr(value)
    return f"{path}: {where} = {shown}: " + both(message_id, **params)
