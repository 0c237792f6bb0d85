"""Commands print log lines below ERROR on the terminal only when asked to."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CLI_TIMEOUT_S, REPO, CliResult

PASSWORD = "correct-horse-battery"


def run_cli_env(*args: str | Path, stdin: str = "", **env: str) -> CliResult:
    # The level comes only from `env`, never from the environment the tests run in.
    inherited = {key: value for key, value in os.environ.items()
                 if key != "CALLSCREEN_LOG_LEVEL"}
    environment = {**inherited, "PYTHONIOENCODING": "utf-8", **env}
    done = subprocess.run(
        [sys.executable, "-m", "callscreen", *map(str, args)],
        capture_output=True, text=True, encoding="utf-8", timeout=CLI_TIMEOUT_S,
        cwd=REPO, env=environment, check=False, input=stdin,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def hr_store(tmp_path: Path) -> Path:
    config = tmp_path / "callscreen.toml"
    config.write_text(f'[store]\npath = "{tmp_path / "store.sqlite3"}"\n', encoding="utf-8")
    added = run_cli_env("users", "add", "hr.li", "--role", "hr", "--password-stdin",
                        "--config", config, stdin=PASSWORD + "\n")
    assert added.code == 0, added.stderr
    return config


def wrong_password(config: Path, *extra: str, **env: str) -> CliResult:
    return run_cli_env(*extra, "cases", "list", "--config", config, "--as", "hr.li",
                       "--password-stdin", stdin="not the password\n", **env)


def test_wrong_password_prints_no_log_line(hr_store: Path) -> None:
    result = wrong_password(hr_store)

    assert result.code == 1
    assert "无法以 hr.li 身份操作" in result.stderr
    assert "login_failed" not in result.stderr
    assert "warning" not in result.stderr


def test_verbose_shows_log_lines(hr_store: Path) -> None:
    before_command = wrong_password(hr_store, "--verbose")
    after_command = run_cli_env("cases", "list", "--verbose", "--config", hr_store, "--as",
                                "hr.li", "--password-stdin", stdin="not the password\n")

    assert before_command.code == 1
    assert "login_failed" in before_command.stderr
    assert after_command.code == 1
    assert "login_failed" in after_command.stderr


def test_log_level_variable_lowers_level(hr_store: Path) -> None:
    result = wrong_password(hr_store, CALLSCREEN_LOG_LEVEL="warning")

    assert result.code == 1
    assert "login_failed" in result.stderr


def test_invalid_log_level_variable_named(hr_store: Path) -> None:
    result = run_cli_env("users", "list", "--config", hr_store, CALLSCREEN_LOG_LEVEL="loud")

    assert result.code == 2
    assert "CALLSCREEN_LOG_LEVEL" in result.stderr
    assert "'loud'" in result.stderr
    assert "debug, info, warning, error" in result.stderr
