"""Deployment checks that `check-config` runs on top of the per-key validation.

`load_config` only rejects values the daemon cannot run with. These checks catch a config
that runs but cannot work as intended (AMI without a secret), and settings that are
allowed but risky (listeners reachable from the network), which are reported as warnings.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from callscreen.config.model import Config
from callscreen.i18n import both


@dataclass
class CheckResult:
    """Problems that make check-config fail, and warnings that it only prints."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_deployment(config: Config) -> CheckResult:
    """Return the errors and warnings for a config that already passed `load_config`."""
    result = CheckResult()
    path = config.source or "-"
    asterisk = config.asterisk

    if asterisk.ami_enabled and not asterisk.ami_secret:
        result.errors.append(f"{path}: [asterisk] ami_secret: " + both("config.ami_no_secret"))

    if asterisk.mode == "screen" and not is_loopback(asterisk.agi_host):
        result.warnings.append(f"{path}: [asterisk] agi_host = {asterisk.agi_host!r}: "
                               + both("config.agi_not_loopback"))
    if config.web.enabled and not is_loopback(config.web.host):
        result.warnings.append(f"{path}: [web] host = {config.web.host!r}: "
                               + both("config.web_not_loopback"))

    result.warnings.extend(_retention_warnings(config, path))
    return result


def _retention_warnings(config: Config, path: str) -> list[str]:
    """Warn where the purge deletes data before the rules that read it are done with it."""
    retention = config.retention
    warnings: list[str] = []

    # The anomaly detector counts an employee's calls over the long window, so calls purged
    # earlier drop out of the count and a case may never open.
    if retention.call_days * 24 < config.anomaly.long_window_hours:
        warnings.append(
            f"{path}: [retention] call_days = {retention.call_days}: "
            + both("config.call_days_short", hours=config.anomaly.long_window_hours))

    # Reception's tags change verdicts for reputation_max_age_days; purged tags stop early.
    if retention.tag_days < config.rules.reputation_max_age_days:
        warnings.append(
            f"{path}: [retention] tag_days = {retention.tag_days}: "
            + both("config.tag_days_short", days=f"{config.rules.reputation_max_age_days:g}"))

    return warnings


def is_loopback(host: str) -> bool:
    """Return whether `host` names only this machine (127.0.0.0/8, ::1 or localhost)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False
