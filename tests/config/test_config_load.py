"""Config loading: every problem names the file, the key, the value and what is allowed."""

import dataclasses
from pathlib import Path

import pytest

from callscreen.config import Config, load_config
from callscreen.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callscreen.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_example_config_loads_with_defaults() -> None:
    config = load_config(REPO / "config.example.toml")

    assert config.asterisk.ami_port == 5038
    assert config.asterisk.agi_port == 4573
    assert config.asterisk.ami_host == "127.0.0.1"
    assert config.numbers.time_zone == "Asia/Shanghai"


def test_example_config_documents_every_key() -> None:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    defaults = Config()

    for section in [f.name for f in dataclasses.fields(Config) if f.name != "source"]:
        assert f"[{section}]" in text
        for key in vars(getattr(defaults, section)):
            assert f"\n{key} = " in text, f"[{section}] {key} is not in config.example.toml"


def test_unknown_key_is_an_error_naming_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[asterisk]\nami_prot = 5038\n")

    problems = problems_of(path)

    assert len(problems) == 1
    assert str(path) in problems[0]
    assert "[asterisk] ami_prot" in problems[0]
    assert "ami_port" in problems[0]


def test_unknown_section_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "[astrisk]\nami_port = 1\n"))

    assert "[astrisk]" in problems[0]
    assert "asterisk" in problems[0]


def test_out_of_range_port_names_value_and_range(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "[asterisk]\nami_port = 70000\n"))

    assert "70000" in problems[0]
    assert "1" in problems[0] and "65535" in problems[0]
    assert "超出范围" in problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = '[asterisk]\nami_port = "x"\nmode = "sometimes"\n[log]\nlevel = "loud"\n'

    problems = problems_of(write(tmp_path, text))

    assert len(problems) == 3


def test_choice_error_lists_allowed_values(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[asterisk]\nmode = "sometimes"\n'))

    assert "screen, observe" in problems[0]


def test_secret_value_is_never_shown_in_errors(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "[asterisk]\nami_secret = 12345\n"))

    assert "12345" not in problems[0]
    assert "ami_secret" in problems[0]


def test_secret_is_not_in_the_config_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[asterisk]\nami_secret = "hunter2"\n'))

    assert config.asterisk.ami_secret == "hunter2"
    assert "hunter2" not in repr(config)


def test_bad_toml_syntax_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[asterisk\n")

    problems = problems_of(path)

    assert str(path) in problems[0]
    assert "TOML" in problems[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "absent.toml")

    assert "absent.toml" in problems[0]


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "gbk.toml"
    path.write_bytes('[reception]\ncompany_name = "张伟公司"\n'.encode("gbk"))

    problems = problems_of(path)

    assert "UTF-8" in problems[0]


def test_bad_list_entry_is_named(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[rules]\nallow = ["+8613912345678", "95*"]\n'))

    assert "'95*'" in problems[0]


def test_unknown_kind_in_kind_scores_is_named(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "[rules]\nkind_scores = { mobil = 5 }\n"))

    assert "'mobil'" in problems[0]
    assert "mobile" in problems[0]


def test_block_threshold_must_exceed_flag_threshold(tmp_path: Path) -> None:
    text = "[rules]\nflag_threshold = 60\nblock_threshold = 50\n"

    problems = problems_of(write(tmp_path, text))

    assert "block_threshold" in problems[0]


def test_unknown_time_zone_is_an_error(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[numbers]\ntime_zone = "Asia/Beijing"\n'))

    assert "Asia/Shanghai" in problems[0]


def test_integer_accepted_for_float_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[rules]\nreputation_half_life_days = 7\n"))

    assert config.rules.reputation_half_life_days == 7.0
    assert isinstance(config.rules.reputation_half_life_days, float)


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[numbers]\narea_code = \"021\"\n".encode())

    config = load_config(path)

    assert config.numbers.area_code == "021"


def test_nan_is_rejected_for_number_keys(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "[rules]\nreputation_half_life_days = nan\n"))

    assert "nan" in problems[0]


def test_unknown_region_code_is_rejected(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[numbers]\ndefault_region = "ZZ"\n'))

    assert "ISO 3166" in problems[0]


def test_public_url_must_be_http(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[web]\npublic_url = "javascript:alert(1)"\n'))

    assert "http://" in problems[0]


def test_misspelled_suspect_category_is_named(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[anomaly]\nsuspect_categories = ["collectr"]\n'))

    assert "'collectr'" in problems[0]


def test_unknown_notification_channel_is_rejected(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[notify]\nchannels = ["sms"]\n'))

    assert "sms" in " ".join(problems)


def test_email_channel_without_recipients_is_rejected(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, '[notify]\nchannels = ["email"]\n'))

    assert "email_to" in " ".join(problems)


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path,
                                 '[web]\ntrusted_proxies = ["127.0.0.1", "10.0.0.0/8"]\n'))

    assert len(problems) == 1
    assert "trusted_proxies" in problems[0]
    assert "'10.0.0.0/8'" in problems[0]
    assert "IP" in problems[0]


def test_trusted_proxies_accepts_ipv4_and_ipv6(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[web]\ntrusted_proxies = ["127.0.0.1", "::1"]\n'))

    assert config.web.trusted_proxies == ["127.0.0.1", "::1"]
