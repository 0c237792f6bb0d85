"""Command-line errors an admin meets first: bad arguments and a closed output pipe."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO, run_cli


def test_missing_argument_is_bilingual() -> None:
    result = run_cli("run")

    assert result.code == 2
    assert "参数有误" in result.stderr
    assert "invalid arguments" in result.stderr
    assert "--config" in result.stderr
    assert "usage: callscreen run" in result.stderr


def test_unknown_command_is_bilingual() -> None:
    result = run_cli("frobnicate")

    assert result.code == 2
    assert "参数有误" in result.stderr
    assert "'frobnicate'" in result.stderr


def test_closed_stdout_ends_without_traceback() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "callscreen", "classify", "13912345678"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()

    stderr = child.stderr.read().decode("utf-8", "replace")
    code = child.wait(timeout=60)
    child.stderr.close()

    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
    assert code == 1
