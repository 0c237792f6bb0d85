"""`callscreen demo` options: a console port in use, out-of-range ports and speeds."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from .conftest import run_cli


def test_demo_port_in_use_exits(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run_cli("demo", "--once", "--speed", "100", "--web-port", str(port),
                         cwd=tmp_path)

    assert result.code == 1
    assert "--web-port" in result.stderr
    assert str(port) in result.stderr
    assert "Traceback" not in result.stderr
    assert "[web]" not in result.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_demo_rejects_bad_port(tmp_path: Path, port: str) -> None:
    result = run_cli("demo", "--once", "--web-port", port, cwd=tmp_path)

    assert result.code == 2
    assert f"端口 {port} 无效" in result.stderr
    assert "0 to 65535" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("speed", ["0", "-1", "1e-9", "nan", "1e9"])
def test_demo_rejects_bad_speed(tmp_path: Path, speed: str) -> None:
    result = run_cli("demo", "--once", "--speed", speed, cwd=tmp_path)

    assert result.code == 2
    assert f"invalid speed {speed}" in result.stderr


def test_demo_hint_call_id_explains(tmp_path: Path) -> None:
    store = tmp_path / "demo.sqlite3"
    demo = run_cli("demo", "--once", "--speed", "100", "--web-port", "0", "--lang", "en",
                   "--keep-store", store, cwd=tmp_path)
    hint = re.search(r"callscreen explain --store (\S+) (\S+) ", demo.stdout)

    assert demo.code == 0, demo.stderr
    assert "copy config.example.toml to candidate.toml" in demo.stdout
    assert hint is not None, demo.stdout
    assert hint.group(1) == str(store)
    assert hint.group(2) in demo.stdout.split("callscreen explain")[0]

    explained = run_cli("explain", "--store", store, hint.group(2), cwd=tmp_path)

    assert explained.code == 0, explained.stderr
    assert hint.group(2) in explained.stdout
