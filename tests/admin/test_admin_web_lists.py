"""The /admin/lists page on the daemon's console: add, remove, filter, import and export."""

from __future__ import annotations

import codecs
import io
import json
import sqlite3
from pathlib import Path
from urllib.parse import quote

import aiohttp

from .conftest import AdminSite, audit_rows, login, page_csrf, run_cli

GBK_CSV_WITH_BAD_ROW = (
    "号码,匹配方式,备注,到期\n"
    "13912345678,exact,催收公司,2099-01-31\n"
    "1.39123E+10,exact,表格改坏的号码,\n"
    "171,prefix,虚拟号段,\n"
).encode("gbk")


def stored_entries(store_path: Path) -> list[tuple[str, str, str, str, str]]:
    with sqlite3.connect(store_path) as connection:
        rows = connection.execute(
            "SELECT list, match, pattern, note, added_by FROM list_entries"
            " WHERE removed_at IS NULL ORDER BY id").fetchall()
    return [tuple(row) for row in rows]


async def verdict(site: AdminSite, caller: str) -> str:
    assert site.daemon.screener is not None
    screened = await site.daemon.screener.screen(caller)
    return screened.decision.verdict.value


async def admin_client(site: AdminSite) -> tuple[aiohttp.ClientSession, str]:
    client = site.client()
    await login(client, "管理员")
    return client, await page_csrf(client, "/admin/lists")


def upload(token: str, data: bytes, *, skip_bad: bool = False) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("list", "block")
    if skip_bad:
        form.add_field("skip_bad", "1")
    form.add_field("file", io.BytesIO(data), filename="名单.csv", content_type="text/csv")
    return form


async def test_add_entry_blocks_next_call(admin_site: AdminSite) -> None:
    before = await verdict(admin_site, "013912345678")
    client, token = await admin_client(admin_site)

    async with client:
        response = await client.post("/admin/lists/add", data={
            "csrf_token": token, "list": "block", "match": "exact", "number": "13912345678",
            "note": "催收公司", "expires": "2099-01-31"})
        html = await response.text()

    assert response.status == 200
    assert "+8613912345678" in html
    assert before != "block"
    assert await verdict(admin_site, "013912345678") == "block"
    assert stored_entries(admin_site.store_path) == [
        ("block", "exact", "+8613912345678", "催收公司", "管理员")]
    actor, action, detail = audit_rows(admin_site.store_path)[0]
    assert (actor, action) == ("管理员", "list_add")
    assert "13912345678" not in detail


async def test_add_same_entry_twice_keeps_one(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)
    form = {"csrf_token": token, "list": "allow", "match": "exact", "number": "13912345678"}

    async with client:
        await client.post("/admin/lists/add", data=form)
        again = await client.post("/admin/lists/add", data=form)
        html = await again.text()

    assert again.status == 200
    assert "已有相同的生效条目 #1" in html
    assert len(stored_entries(admin_site.store_path)) == 1


async def test_add_invalid_number_names_value(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        bad_number = await client.post("/admin/lists/add", data={
            "csrf_token": token, "list": "block", "match": "exact", "number": "1.39123E+10"})
        bad_number_html = await bad_number.text()
        bad_list = await client.post("/admin/lists/add", data={
            "csrf_token": token, "list": "grey", "match": "exact", "number": "13912345678"})
        bad_list_html = await bad_list.text()
        bad_expiry = await client.post("/admin/lists/add", data={
            "csrf_token": token, "list": "block", "match": "exact", "number": "13912345678",
            "expires": "2001-01-01"})

    assert bad_number.status == 400
    assert "1.39123E+10" in bad_number_html
    assert bad_list.status == 400
    assert "&#39;grey&#39;" in bad_list_html
    assert bad_expiry.status == 400
    assert stored_entries(admin_site.store_path) == []


async def test_remove_entry_lets_next_call_through(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        await client.post("/admin/lists/add", data={
            "csrf_token": token, "list": "block", "match": "block", "number": "13912345678"})
        blocked = await verdict(admin_site, "13912340000")
        response = await client.post("/admin/lists/remove", data={
            "csrf_token": token, "entry_id": "1", "reason": "误加"})
        missing = await client.post("/admin/lists/remove", data={
            "csrf_token": token, "entry_id": "1"})
        malformed = await client.post("/admin/lists/remove", data={
            "csrf_token": token, "entry_id": "１"})

    assert response.status == 200
    assert blocked == "block"
    assert await verdict(admin_site, "13912340000") != "block"
    assert missing.status == 404
    assert malformed.status == 400
    assert [row[:2] for row in audit_rows(admin_site.store_path)] == [
        ("管理员", "list_add"), ("管理员", "list_remove")]


async def test_filter_by_list_and_text(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        for list_name, number, note in (("block", "13912345678", "催收甲"),
                                        ("allow", "13700001111", "银行客服"),
                                        ("block", "13800002222", "催收乙")):
            await client.post("/admin/lists/add", data={
                "csrf_token": token, "list": list_name, "match": "exact", "number": number,
                "note": note})
        allow_only = await (await client.get("/admin/lists?list=allow")).text()
        by_text = await (await client.get("/admin/lists", params={"q": "催收乙"})).text()
        weird = await client.get("/admin/lists", params={"list": "<x>", "q": "\x00" * 500})

    assert "+8613700001111" in allow_only
    assert "+8613912345678" not in allow_only
    assert "+8613800002222" in by_text
    assert "+8613912345678" not in by_text
    assert weird.status == 200


async def test_import_gbk_with_bad_row_imports_nothing(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        response = await client.post("/admin/lists/import",
                                     data=upload(token, GBK_CSV_WITH_BAD_ROW))
        html = await response.text()

    assert response.status == 400
    assert "line 3" in html
    assert "1.39E+10" in html
    assert "未导入任何条目" in html
    assert stored_entries(admin_site.store_path) == []
    assert audit_rows(admin_site.store_path) == []


async def test_import_gbk_skipping_bad_rows(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        response = await client.post("/admin/lists/import",
                                     data=upload(token, GBK_CSV_WITH_BAD_ROW, skip_bad=True))
        html = await response.text()

    assert response.status == 200
    assert "gb18030" in html
    assert "line 3" in html
    assert stored_entries(admin_site.store_path) == [
        ("block", "exact", "+8613912345678", "催收公司", "管理员"),
        ("block", "prefix", "+86171", "虚拟号段", "管理员"),
    ]
    actor, action, detail = audit_rows(admin_site.store_path)[0]
    assert (actor, action) == ("管理员", "list_import")
    assert len(json.loads(detail)["entries"]) == 2
    assert await verdict(admin_site, "17198765432") == "block"


async def test_import_rejects_undecodable_file(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        response = await client.post("/admin/lists/import",
                                     data=upload(token, codecs.BOM_UTF8 + b"\xff\xfe\x00"))
        no_file = await client.post("/admin/lists/import",
                                    data={"csrf_token": token, "list": "block"})

    assert response.status == 400
    assert no_file.status == 400
    assert stored_entries(admin_site.store_path) == []


async def test_export_round_trips_through_cli(admin_site: AdminSite, tmp_path: Path) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        await client.post("/admin/lists/import",
                          data=upload(token, GBK_CSV_WITH_BAD_ROW, skip_bad=True))
        response = await client.get("/admin/lists.csv?list=block")
        body = await response.read()
    exported = tmp_path / "export.csv"
    exported.write_bytes(body)
    copy = tmp_path / "copy.sqlite3"

    result = run_cli("list", "import", exported, "--store", copy, "--config",
                     admin_site.config_path)

    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert body.startswith(codecs.BOM_UTF8)
    assert result.code == 0, result.stderr
    assert [entry[:4] for entry in stored_entries(copy)] == [
        entry[:4] for entry in stored_entries(admin_site.store_path)]


async def test_import_header_only_is_an_error(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        header_only = await client.post(
            "/admin/lists/import", data=upload(token, "号码,匹配方式,备注,到期\n".encode("gbk")))
        header_html = await header_only.text()
        empty = await client.post("/admin/lists/import", data=upload(token, b""))
        empty_html = await empty.text()

    assert header_only.status == 400
    # aiohttp's client percent-encodes a non-ASCII file name in the multipart header.
    assert f"{quote('名单.csv')} 中没有任何条目" in header_html
    assert "没有任何条目" in header_html
    assert empty.status == 400
    assert "没有任何条目" in empty_html
    assert audit_rows(admin_site.store_path) == []


async def test_import_utf16_names_encodings(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)
    data = "号码\t备注\n13912345678\t催收\n".encode("utf-16")

    async with client:
        response = await client.post("/admin/lists/import", data=upload(token, data))
        html = await response.text()

    assert response.status == 400
    assert "UTF-16" in html
    assert "GBK" in html
    assert stored_entries(admin_site.store_path) == []


async def test_add_form_strips_bidi_from_note(admin_site: AdminSite) -> None:
    client, token = await admin_client(admin_site)

    async with client:
        response = await client.post("/admin/lists/add", data={
            "csrf_token": token, "list": "block", "match": "exact", "number": "13912345678",
            "note": "\u202e司公收催\u202c"})

    assert response.status == 200
    assert stored_entries(admin_site.store_path) == [
        ("block", "exact", "+8613912345678", "司公收催", "管理员")]
