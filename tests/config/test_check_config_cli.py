"""`callscreen check-config`: deployment errors, warnings and readable format errors."""

from __future__ import annotations

from pathlib import Path

from tests.admin.conftest import REPO, run_cli


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callscreen.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_without_secret_fails(tmp_path: Path) -> None:
    result = run_cli("check-config", REPO / "config.example.toml", cwd=tmp_path)

    assert result.code == 2
    assert "[asterisk] ami_secret" in result.stderr
    assert "manager.conf" in result.stderr
    assert "ami_enabled = false" in result.stderr


def test_ami_disabled_needs_no_secret(tmp_path: Path) -> None:
    path = _config(tmp_path, "[asterisk]\nami_enabled = false\n")

    result = run_cli("check-config", path, cwd=tmp_path)

    assert result.code == 0, result.stderr
    assert "ami_secret" not in result.stderr


def test_public_hosts_warn_only(tmp_path: Path) -> None:
    path = _config(tmp_path, '[asterisk]\nami_secret = "s3cret"\nagi_host = "0.0.0.0"\n\n'
                             '[web]\nhost = "0.0.0.0"\n')

    result = run_cli("check-config", path, cwd=tmp_path)

    assert result.code == 0, result.stderr
    assert "警告 / warning" in result.stderr
    assert "[web] host = '0.0.0.0'" in result.stderr
    assert "plain HTTP" in result.stderr
    assert "[asterisk] agi_host = '0.0.0.0'" in result.stderr
    assert "配置有效" in result.stdout


def test_loopback_hosts_do_not_warn(tmp_path: Path) -> None:
    path = _config(tmp_path, '[asterisk]\nami_secret = "s3cret"\nagi_host = "127.0.0.2"\n\n'
                             '[web]\nhost = "::1"\n')

    result = run_cli("check-config", path, cwd=tmp_path)

    assert result.code == 0, result.stderr
    assert result.stderr == ""


def test_format_errors_show_example(tmp_path: Path) -> None:
    path = _config(tmp_path, '[asterisk]\nami_secret = "s3cret"\n\n[numbers]\n'
                             'area_code = "21a"\n\n[anomaly]\noffice_start = "9:00"\n'
                             'office_weekdays = "8"\n')

    result = run_cli("check-config", path, cwd=tmp_path)

    assert result.code == 2
    assert "such as 021" in result.stderr
    assert "such as 09:00" in result.stderr
    assert "1 (Monday) to 7 (Sunday)" in result.stderr
    assert "[0-9]" not in result.stderr


def test_flag_threshold_above_max_score(tmp_path: Path) -> None:
    path = _config(tmp_path, '[asterisk]\nami_secret = "s3cret"\n\n[rules]\n'
                             'flag_threshold = 200\n')

    result = run_cli("check-config", path, cwd=tmp_path)

    assert result.code == 2
    assert "[rules] flag_threshold = 200" in result.stderr


def test_short_retention_warns(tmp_path: Path) -> None:
    path = _config(tmp_path, '[asterisk]\nami_secret = "s3cret"\n\n[anomaly]\n'
                             'long_window_hours = 240\n\n[rules]\nreputation_max_age_days = 90\n\n'
                             '[retention]\ncall_days = 7\ntag_days = 30\n')

    result = run_cli("check-config", path, cwd=tmp_path)

    assert result.code == 0, result.stderr
    assert "[retention] call_days = 7" in result.stderr
    assert "long_window_hours (240 hours)" in result.stderr
    assert "[retention] tag_days = 30" in result.stderr
    assert "reputation_max_age_days (90 days)" in result.stderr


def test_retention_covering_windows_is_quiet(tmp_path: Path) -> None:
    path = _config(tmp_path, '[asterisk]\nami_secret = "s3cret"\n\n[anomaly]\n'
                             'long_window_hours = 240\n\n[rules]\nreputation_max_age_days = 90\n\n'
                             '[retention]\ncall_days = 10\ntag_days = 90\n')

    result = run_cli("check-config", path, cwd=tmp_path)

    assert result.code == 0, result.stderr
    assert "retention" not in result.stderr
