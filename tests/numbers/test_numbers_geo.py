"""Tests for splitting geocoder descriptions into province and city."""

from __future__ import annotations

import pytest

from callscreen.numbers.geo import split_region


@pytest.mark.parametrize(
    ("description", "province", "city"),
    [
        ("江苏省常州市", "江苏省", "常州市"),
        ("上海市", "上海市", "上海市"),
        ("天津", "天津市", "天津市"),
        ("广西南宁市", "广西壮族自治区", "南宁市"),
        ("广西壮族自治区南宁市、崇左市", "广西壮族自治区", "南宁市"),
        ("内蒙古呼和浩特市", "内蒙古自治区", "呼和浩特市"),
        ("新疆维吾尔自治区乌鲁木齐市", "新疆维吾尔自治区", "乌鲁木齐市"),
        ("青海省海南藏族自治州", "青海省", "海南藏族自治州"),
        ("陕西省西安市", "陕西省", "西安市"),
        ("山西省太原市", "山西省", "太原市"),
        ("云南红河", "云南省", "红河"),
        ("中国", "", ""),
        ("", "", ""),
    ],
)
def test_split_region(description: str, province: str, city: str) -> None:
    result = split_region(description)

    assert result == (province, city)
