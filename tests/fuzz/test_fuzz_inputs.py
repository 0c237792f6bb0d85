"""Property tests: every parser of outside input raises only callscreen's documented errors.

Each test counts the examples hypothesis ran and which errors came out, for the report.
The wire parsers must also stay bounded: a 1 MB line or a stream with no blank line may
not make them buffer more than their configured frame limit.
"""

from __future__ import annotations

import asyncio
import json
import tomllib
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callscreen.admin.lists import decode_csv, parse_import
from callscreen.config.load import load_config
from callscreen.config.model import NumbersConfig
from callscreen.errors import CallscreenError
from callscreen.numbers.model import NumberKind
from callscreen.numbers.normalise import normalise
from callscreen.pbx.agi_wire import parse_environment, read_environment
from callscreen.pbx.ami_wire import DEFAULT_MAX_MESSAGE_BYTES, AmiFramer
from callscreen.reception.directory import parse_directory

FUZZ = settings(max_examples=300, deadline=2000,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
ONE_MEGABYTE = 1_048_576
# The framers and readers may hold one frame plus their bookkeeping; four frames of slack.
MEMORY_LIMIT_BYTES = 4 * DEFAULT_MAX_MESSAGE_BYTES

AMI_WORDS = [b"Asterisk Call Manager/11.0.0\r\n", b"Event: Newchannel", b"Response: Success",
             b"ActionID: 1", b"CallerIDNum:", b"CallerIDName: \xd5\xc5\xce\xb0", b": ", b":",
             b"\r\n", b"\n", b"\r\n\r\n", b"\n\n", b"Uniqueid: <null>", b"\xff\xfe", b"x" * 100]
NUMBER_PIECES = ["+86", "0086", "86", "0", "139", "170", "106", "400", "95588", "021",
                 "-", " ", "(", ")", "<sip:", "@host>", "tel:", ";", "anonymous", "１３９",
                 "٣", "\u200b", "\ufeff", "1" * 30, "e+10", "."]
CSV_PIECES = ["name,employee_id,department,extension,did\n", "张伟,E1,财务部,8001,02188886666\n",
              "\ufeff", ",", "\n", "\r\n", '"', "1.39123E+10", "0", "=cmd|' /C calc'!A0",
              "\x00", "pattern,list\n", "+8613912345678,block\n", "prefix:170,block\n"]
TOML_PIECES = ["[asterisk]\n", "[rules]\n", "[numbers]\n", "[web]\n", "[nope]\n",
               "agi_port = ", "flag_threshold = ", "area_code = ", "port = ", "allow = ",
               "0", "-1", "65536", "1e309", '"021"', '"x"', "[1, 2]", "{a = 1}", "true",
               "\n", "=", '"""', "\ufeff", "\xff", "nan", "inf", '"+8613912345678"']


def _assembled(pieces: list, joiner: object) -> st.SearchStrategy:
    return st.lists(st.sampled_from(pieces), max_size=30).map(joiner.join)  # type: ignore[attr-defined]


def _describe_errors(errors: Counter[str]) -> str:
    if not errors:
        return "none raised"
    return ", ".join(f"{name}×{count}" for name, count in errors.most_common())


def test_ami_framer_raises_only_own_errors(reliability) -> None:
    reliability.describe("AMI 帧解析器：任意字节流 / AMI framer: arbitrary byte streams",
                         "messages or ProtocolError only; never another exception")
    errors: Counter[str] = Counter()
    examples = 0

    @FUZZ
    @given(st.lists(st.one_of(st.binary(max_size=200), _assembled(AMI_WORDS, b"")),
                    max_size=20))
    def run(chunks: list[bytes]) -> None:
        nonlocal examples
        examples += 1
        framer = AmiFramer(max_message_bytes=1024)
        try:
            for chunk in chunks:
                framer.feed(chunk)
        except CallscreenError as exc:
            errors[type(exc).__name__] += 1

    run()

    reliability.observed = f"{examples} examples; {_describe_errors(errors)}"
    assert examples > 0


def test_agi_environment_raises_only_own_errors(reliability) -> None:
    reliability.describe("FastAGI 环境块解析：任意行 / FastAGI environment: arbitrary lines",
                         "an AgiRequest or ProtocolError only")
    errors: Counter[str] = Counter()
    examples = 0

    @FUZZ
    @given(st.lists(st.one_of(st.binary(max_size=80),
                              st.builds(lambda k, v: k + b": " + v,
                                        st.sampled_from([b"agi_network_script", b"agi_channel",
                                                         b"agi_uniqueid", b"agi_callerid",
                                                         b"agi_calleridname", b"agi_arg_1",
                                                         b"agi_callingpres"]),
                                        st.binary(max_size=40))), max_size=30))
    def run(lines: list[bytes]) -> None:
        nonlocal examples
        examples += 1
        try:
            parse_environment(lines)
        except CallscreenError as exc:
            errors[type(exc).__name__] += 1

    run()

    reliability.observed = f"{examples} examples; {_describe_errors(errors)}"
    assert examples > 0


def test_agi_stream_reader_ends_on_any_stream(reliability) -> None:
    reliability.describe("FastAGI 读取器：任意字节后 EOF / FastAGI reader: arbitrary bytes, EOF",
                         "returns lines or raises ProtocolError/timeout; never hangs")
    errors: Counter[str] = Counter()
    examples = 0

    async def read(data: bytes) -> None:
        reader = asyncio.StreamReader(limit=256)
        reader.feed_data(data)
        reader.feed_eof()
        await read_environment(reader, timeout=1.0, max_line=256, max_lines=64)

    @FUZZ
    @given(st.binary(max_size=2000))
    def run(data: bytes) -> None:
        nonlocal examples
        examples += 1
        try:
            asyncio.run(read(data))
        except CallscreenError as exc:
            errors[type(exc).__name__] += 1

    run()

    reliability.observed = f"{examples} examples; {_describe_errors(errors)}"
    assert examples > 0


def test_normaliser_never_raises(reliability) -> None:
    reliability.describe("号码规范化：任意字符串 / number normaliser: arbitrary strings",
                         "NumberFacts for every string, garbage as `invalid`; no exception")
    kinds: Counter[str] = Counter()

    @FUZZ
    @given(st.one_of(st.text(max_size=60), _assembled(NUMBER_PIECES, "")))
    def run(raw: str) -> None:
        facts = normalise(raw, area_code="021")
        kinds[facts.kind.value] += 1

    run()

    reliability.observed = f"{sum(kinds.values())} examples, kinds: {dict(kinds.most_common(5))}"
    assert sum(kinds.values()) > 0


def test_normaliser_one_megabyte_caller_id(reliability) -> None:
    reliability.describe("号码规范化：1 MB 主叫号码 / number normaliser: 1 MB caller ID",
                         "kind `invalid` without parsing the whole string")

    facts = normalise("1" * ONE_MEGABYTE)

    reliability.observed = f"kind={facts.kind.value}, raw kept: {len(facts.raw)} chars"
    assert facts.kind is NumberKind.INVALID


def test_directory_csv_raises_only_import_error(reliability) -> None:
    reliability.describe("员工目录 CSV：任意字节 / directory CSV: arbitrary bytes and cells",
                         "parsed rows or ImportFileError with line numbers only")
    errors: Counter[str] = Counter()
    examples = 0

    @FUZZ
    @given(st.one_of(st.binary(max_size=400), _assembled(CSV_PIECES, "").map(
        lambda text: text.encode("utf-8")), _assembled(CSV_PIECES, "").map(
        lambda text: text.encode("gb18030"))))
    def run(data: bytes) -> None:
        nonlocal examples
        examples += 1
        try:
            parse_directory(data, "fuzz.csv")
        except CallscreenError as exc:
            errors[type(exc).__name__] += 1

    run()

    reliability.observed = f"{examples} examples; {_describe_errors(errors)}"
    assert examples > 0


def test_list_csv_raises_only_import_error(reliability) -> None:
    reliability.describe("名单导入 CSV：任意字节 / allow/block list CSV: arbitrary bytes",
                         "entries and per-line problems, or ImportFileError only")
    errors: Counter[str] = Counter()
    examples = 0
    now = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)

    @FUZZ
    @given(st.one_of(st.binary(max_size=400),
                     _assembled(CSV_PIECES, "").map(lambda text: text.encode("utf-8")),
                     st.binary(max_size=64).map(lambda data: b"\xff\xfe" + data)))
    def run(data: bytes) -> None:
        nonlocal examples
        examples += 1
        try:
            text, encoding = decode_csv(data, "fuzz.csv")
            parse_import(text, encoding=encoding, default_list="block",
                         numbers=NumbersConfig(area_code="021"), now=now)
        except CallscreenError as exc:
            errors[type(exc).__name__] += 1

    run()

    reliability.observed = f"{examples} examples; {_describe_errors(errors)}"
    assert examples > 0


def test_config_loader_raises_only_config_error(reliability) -> None:
    reliability.describe("配置文件：任意 TOML 与字节 / config loader: arbitrary TOML and bytes",
                         "a Config or ConfigError naming the file only")
    outcomes: Counter[str] = Counter()

    with TemporaryDirectory() as folder:
        path = Path(folder) / "callscreen.toml"

        @FUZZ
        @given(st.one_of(st.binary(max_size=300),
                         _assembled(TOML_PIECES, "").map(lambda text: text.encode("utf-8"))))
        def run(data: bytes) -> None:
            path.write_bytes(data)
            try:
                load_config(path)
                outcomes["Config"] += 1
            except CallscreenError as exc:
                assert str(path) in str(exc) or exc.args == ()
                outcomes[type(exc).__name__] += 1

        run()

    reliability.observed = f"{sum(outcomes.values())} examples; {dict(outcomes)}"
    assert sum(outcomes.values()) > 0


def test_config_valid_toml_values_raise_only_config_error(reliability) -> None:
    reliability.describe("配置文件：合法 TOML、错误类型和值 / config: valid TOML, wrong types "
                         "and values for real keys",
                         "ConfigError naming file, key and value; never TypeError")
    outcomes: Counter[str] = Counter()
    keys = [("asterisk", "agi_port"), ("asterisk", "decision_deadline_ms"),
            ("asterisk", "inbound_contexts"), ("rules", "kind_scores"), ("rules", "allow"),
            ("numbers", "area_code"), ("numbers", "time_zone"), ("web", "max_body_bytes"),
            ("notify", "channels"), ("anomaly", "low"), ("log", "level")]
    values = st.recursive(
        st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(),
                  st.text(max_size=20)),
        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8),
                                                inner, max_size=3)),
        max_leaves=6)

    with TemporaryDirectory() as folder:
        path = Path(folder) / "callscreen.toml"

        @FUZZ
        @given(st.sampled_from(keys), values)
        def run(key: tuple[str, str], value: object) -> None:
            path.write_text(f"[{key[0]}]\n{key[1]} = {_toml_value(value)}\n", encoding="utf-8")
            assert tomllib.loads(path.read_text(encoding="utf-8"))  # the document is valid
            try:
                load_config(path)
                outcomes["Config"] += 1
            except CallscreenError as exc:
                assert key[1] in str(exc)
                outcomes[type(exc).__name__] += 1

        run()

    reliability.observed = f"{sum(outcomes.values())} examples; {dict(outcomes)}"
    assert sum(outcomes.values()) > 0


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # JSON's escapes (\n, \", \uXXXX) are valid in a TOML basic string. DEL is the one
        # control character JSON leaves unescaped and TOML rejects.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{key} = {_toml_value(item)}" for key, item in value.items()) + "}"


def _peak_while(feed: object) -> int:
    tracemalloc.start()
    try:
        feed()  # type: ignore[operator]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_ami_framer_bounded_on_one_megabyte_line(reliability) -> None:
    reliability.describe("AMI：1 MB 无换行的行 / AMI: a 1 MB line with no line break",
                         f"the message is dropped; memory stays under {MEMORY_LIMIT_BYTES} bytes")
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    chunk = b"x" * 4096
    messages: list[object] = []

    def feed() -> None:
        for _ in range(ONE_MEGABYTE // len(chunk)):
            messages.extend(framer.feed(chunk))
        messages.extend(framer.feed(b"\r\n\r\nEvent: FullyBooted\r\n\r\n"))

    peak = _peak_while(feed)

    reliability.observed = f"peak {peak} bytes traced; next message parsed: {len(messages) == 1}"
    assert peak < MEMORY_LIMIT_BYTES
    assert [message.event for message in messages] == ["FullyBooted"]  # type: ignore[attr-defined]


def test_ami_framer_bounded_without_blank_line(reliability) -> None:
    reliability.describe("AMI：1 MB 短行，从无空行 / AMI: 1 MB of short lines, never a blank line",
                         f"the message is dropped; memory stays under {MEMORY_LIMIT_BYTES} bytes")
    framer = AmiFramer()
    framer.feed(b"Asterisk Call Manager/11.0.0\r\n")
    chunk = b"Variable: x=1\r\n" * 256
    messages: list[object] = []

    def feed() -> None:
        for _ in range(ONE_MEGABYTE // len(chunk)):
            messages.extend(framer.feed(chunk))
        messages.extend(framer.feed(b"\r\nEvent: FullyBooted\r\n\r\n"))

    peak = _peak_while(feed)

    reliability.observed = f"peak {peak} bytes traced; next message parsed: {len(messages) == 1}"
    assert peak < MEMORY_LIMIT_BYTES
    assert [message.event for message in messages] == ["FullyBooted"]  # type: ignore[attr-defined]
