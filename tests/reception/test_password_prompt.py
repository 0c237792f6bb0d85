"""`users add` and `users passwd` without a terminal, and Ctrl-D at the password prompt."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from tests.admin.conftest import run_cli

READ_LIMIT_S = 60


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "callscreen.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "store.sqlite3"}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [("users", "add", "hr1", "--role", "hr"),
                                     ("users", "passwd", "hr1")], ids=" ".join)
def test_password_without_terminal_fails(config_file: Path, tmp_path: Path,
                                         command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--config", config_file, cwd=tmp_path, stdin="")

    assert result.code == 2
    assert "--password-stdin" in result.stderr
    assert "没有可输入密码的终端" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Warning" not in result.stderr


def _read_until(fd: int, marker: bytes, deadline: float) -> bytes:
    seen = b""
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def test_ctrl_d_at_prompt_fails(config_file: Path, tmp_path: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp_path)
        os.execv(sys.executable, [sys.executable, "-m", "callscreen", "users", "add", "hr1",
                                  "--role", "hr", "--config", str(config_file)])

    deadline = time.monotonic() + READ_LIMIT_S
    try:
        prompt = _read_until(fd, b"password:", deadline)
        os.write(fd, b"\x04")
        rest = _read_until(fd, b"\x00never", deadline)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)

    output = (prompt + rest).decode("utf-8", "replace")
    assert b"password:" in prompt
    assert os.waitstatus_to_exitcode(status) == 2
    assert "Ctrl-D" in output
    assert "Traceback" not in output
