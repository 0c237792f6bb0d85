"""The validated configuration, as typed dataclasses.

Each field's metadata contains its constraint (`choices`, `min`, `max`, `pattern`, with
`format_error` naming the message that describes a pattern to people) and the message id
of its help text; `load.py` checks a TOML file against these definitions and
`config.example.toml` documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _opt(default: Any, **constraint: Any) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=constraint)
    # Secrets stay out of reprs, so a logged or printed config never shows them.
    return field(default=default, metadata=constraint, repr=not constraint.get("secret"))


@dataclass(frozen=True)
class AsteriskConfig:
    """How to reach Asterisk: AMI client and FastAGI listener."""

    mode: str = _opt("screen", choices=("screen", "observe"))
    ami_enabled: bool = _opt(True)
    ami_host: str = _opt("127.0.0.1", host=True)
    ami_port: int = _opt(5038, min=1, max=65535)
    ami_username: str = _opt("callscreen", min_len=1)
    ami_secret: str = _opt("", secret=True)
    ami_ping_interval_s: float = _opt(20.0, min=1, max=3600)
    ami_ping_timeout_s: float = _opt(5.0, min=0.5, max=60)
    ami_reconnect_max_s: float = _opt(60.0, min=1, max=3600)
    agi_host: str = _opt("127.0.0.1", host=True)
    agi_port: int = _opt(4573, min=0, max=65535)
    decision_deadline_ms: int = _opt(300, min=20, max=5000)
    agi_mset: bool = _opt(True)
    inbound_contexts: list[str] = _opt(
        ["from-trunk", "from-pstn", "from-external", "callscreen-from-trunk"], min_len=1)


@dataclass(frozen=True)
class NumbersConfig:
    """Settings for reading caller IDs."""

    default_region: str = _opt("CN", pattern=r"[A-Z]{2}", region=True,
                                format_error="config.format.region")
    area_code: str = _opt("", pattern=r"(0?[1-9][0-9]{1,3})?",
                          format_error="config.format.area_code")
    time_zone: str = _opt("Asia/Shanghai", time_zone=True)


@dataclass(frozen=True)
class RulesConfig:
    """Rule weights and thresholds; see config.example.toml for what each rule does."""

    flag_threshold: int = _opt(40, min=1, max=100)
    block_threshold: int = _opt(101, min=1, max=101)
    tag: str = _opt("[疑似催收]", max_len=32)
    anonymous_score: int = _opt(40, min=-100, max=100)
    kind_scores: dict[str, int] = _opt(
        {"virtual_operator": 25, "international": 15, "invalid": 20, "sms_gateway": 10},
        keys=("mobile", "landline", "toll_free", "service", "sms_gateway", "virtual_operator",
              "international", "anonymous", "invalid"),
        min=-100, max=100,
    )
    region_scores: dict[str, int] = _opt({}, min=-100, max=100)
    allow: list[str] = _opt([], list_pattern=True)
    block: list[str] = _opt([], list_pattern=True)
    repeat_count: int = _opt(3, min=2, max=1000)
    repeat_window_minutes: int = _opt(120, min=1, max=60 * 24 * 30)
    repeat_score: int = _opt(25, min=0, max=100)
    block_burst_count: int = _opt(4, min=2, max=1000)
    block_burst_window_minutes: int = _opt(10, min=1, max=60 * 24)
    block_burst_score: int = _opt(25, min=0, max=100)
    reputation_half_life_days: float = _opt(30.0, min=0.5, max=3650)
    reputation_max_age_days: float = _opt(180.0, min=1, max=3650)
    number_collector_score: int = _opt(45, min=0, max=100)
    block_collector_score: int = _opt(40, min=0, max=100)
    not_collector_score: int = _opt(40, min=0, max=100)
    employment_check_score: int = _opt(0, min=-100, max=100)


@dataclass(frozen=True)
class StoreConfig:
    """The sqlite store's location."""

    path: str = _opt("callscreen.sqlite3", min_len=1)


@dataclass(frozen=True)
class LogConfig:
    """Log output."""

    level: str = _opt("info", choices=("debug", "info", "warning", "error"))
    format: str = _opt("auto", choices=("auto", "json", "console"))
    mask_numbers: bool = _opt(True)


@dataclass(frozen=True)
class WebConfig:
    """The reception console, HR pages, admin API and phone XML."""

    enabled: bool = _opt(True)
    host: str = _opt("127.0.0.1", host=True)
    port: int = _opt(8080, min=0, max=65535)
    public_url: str = _opt("", max_len=200, url=True)
    secure_cookies: bool = _opt(False)
    session_hours: int = _opt(12, min=1, max=24 * 30)
    max_body_bytes: int = _opt(1_048_576, min=1024, max=64 * 1_048_576)
    # Reverse proxies whose X-Forwarded-For is believed (see callscreen.web.client_address).
    trusted_proxies: list[str] = _opt([], ip_addresses=True)


@dataclass(frozen=True)
class ReceptionConfig:
    """Company details used in reply scripts."""

    company_name: str = _opt("本公司", min_len=1, max_len=100)
    receptionist_name: str = _opt("前台", max_len=50)
    # English scripts use these; empty means the Chinese value above.
    company_name_en: str = _opt("", max_len=100)
    receptionist_name_en: str = _opt("", max_len=50)
    locale: str = _opt("zh-CN", choices=("zh-CN", "en"))
    scripts_dir: str = _opt("", max_len=500)


@dataclass(frozen=True)
class Config:
    """The whole configuration; `source` is the file it came from ("" for defaults)."""

    asterisk: AsteriskConfig = field(default_factory=AsteriskConfig)
    numbers: NumbersConfig = field(default_factory=NumbersConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    log: LogConfig = field(default_factory=LogConfig)
    web: WebConfig = field(default_factory=WebConfig)
    reception: ReceptionConfig = field(default_factory=ReceptionConfig)
    anomaly: AnomalyConfig = field(default_factory=lambda: AnomalyConfig())
    notify: NotifyConfig = field(default_factory=lambda: NotifyConfig())
    hr: HrConfig = field(default_factory=lambda: HrConfig())
    retention: RetentionConfig = field(default_factory=lambda: RetentionConfig())
    source: str = ""


# Signal names of the anomaly detector: "short_" counts over `short_window_hours`, "long_"
# over `long_window_hours`.
ANOMALY_SIGNALS = tuple(
    f"{window}_{signal}"
    for window in ("short", "long")
    for signal in ("calls", "numbers", "blocks", "regions", "repeat", "after_hours")
)


@dataclass(frozen=True)
class AnomalyConfig:
    """Sliding windows per targeted employee and the thresholds of each risk level.

    A level is reached when any one of its signals is at or above its threshold; the case
    takes the highest level reached.
    """

    enabled: bool = _opt(True)
    short_window_hours: int = _opt(24, min=1, max=24 * 31)
    long_window_hours: int = _opt(24 * 7, min=1, max=24 * 366)
    office_start: str = _opt("09:00", pattern=r"([01][0-9]|2[0-3]):[0-5][0-9]",
                               format_error="config.format.time")
    office_end: str = _opt("18:00", pattern=r"([01][0-9]|2[0-4]):[0-5][0-9]",
                             format_error="config.format.end_time")
    office_weekdays: str = _opt("12345", pattern=r"[1-7]{1,7}",
                                  format_error="config.format.weekdays")
    suspect_categories: list[str] = _opt(
        ["collector", "repeat_collector", "abusive"],
        items=("normal", "collector", "repeat_collector", "anonymous", "employment_check",
               "official", "abusive"))
    low: dict[str, int] = _opt({"short_calls": 3, "short_numbers": 3},
                               keys=ANOMALY_SIGNALS, min=1, max=100_000)
    medium: dict[str, int] = _opt(
        {"short_calls": 5, "short_numbers": 5, "short_after_hours": 3, "long_calls": 10},
        keys=ANOMALY_SIGNALS, min=1, max=100_000,
    )
    high: dict[str, int] = _opt(
        {"short_numbers": 10, "short_regions": 4, "long_calls": 20, "long_numbers": 15},
        keys=ANOMALY_SIGNALS, min=1, max=100_000,
    )


@dataclass(frozen=True)
class NotifyConfig:
    """Where case notifications go, and how the outbox retries them.

    Every address defaults to empty or loopback; nothing leaves the machine until configured.
    """

    enabled: bool = _opt(True)
    channels: list[str] = _opt(["print"])
    locale: str = _opt("zh-CN", choices=("zh-CN", "en"))
    timeout_s: float = _opt(10.0, min=0.1, max=300)
    max_attempts: int = _opt(12, min=1, max=1000)
    backoff_initial_s: float = _opt(5.0, min=0.01, max=3600)
    backoff_max_s: float = _opt(1800.0, min=0.01, max=86_400)
    poll_interval_s: float = _opt(2.0, min=0.01, max=600)
    max_in_flight: int = _opt(8, min=1, max=256)
    smtp_host: str = _opt("127.0.0.1", host=True)
    smtp_port: int = _opt(25, min=1, max=65535)
    smtp_starttls: bool = _opt(False)
    smtp_username: str = _opt("", max_len=200)
    smtp_password_secret: str = _opt("", secret=True)
    email_from: str = _opt("callscreen@localhost", min_len=3, max_len=200)
    email_to: list[str] = _opt([])
    email_include_name: bool = _opt(False)
    wecom_url_secret: str = _opt("", secret=True)
    dingtalk_url_secret: str = _opt("", secret=True)
    dingtalk_secret: str = _opt("", secret=True)
    feishu_url_secret: str = _opt("", secret=True)
    feishu_secret: str = _opt("", secret=True)
    webhook_url: str = _opt("", max_len=500)
    webhook_secret: str = _opt("", secret=True)


@dataclass(frozen=True)
class HrConfig:
    """HR case handling: EAP resources, leave marks, step-up sign-in and attendance."""

    eap_resources: list[str] = _opt(
        ["hardship_grant", "financial_counselling", "legal_aid", "salary_advance"], min_len=1,
    )
    leave_category: str = _opt("处理个人债务事务", min_len=1, max_len=50)
    step_up_minutes: int = _opt(5, min=1, max=60)
    reception_extensions: list[str] = _opt([])


@dataclass(frozen=True)
class RetentionConfig:
    """How long call records, tags and closed HR cases are kept, and when the purge runs.

    Tags older than `rules.reputation_max_age_days` no longer change any verdict, so a
    `tag_days` above it keeps data without a use.
    """

    call_days: int = _opt(180, min=1, max=3650)
    tag_days: int = _opt(180, min=1, max=3650)
    case_anonymise_days: int = _opt(365, min=1, max=3650)
    purge_hour: int = _opt(3, min=0, max=23)
