"""Split a phonenumbers Chinese geocoder description into province and city."""

from __future__ import annotations

# Province-level divisions of mainland China: the official name, then the short forms that
# the phonenumbers geocoder data (checked with phonenumbers 9.0.43) uses in its descriptions,
# e.g. "广西南宁市", "内蒙古包头市", "天津" and "云南红河" next to "江苏省常州市".
_PROVINCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("北京市", ("北京",)),
    ("天津市", ("天津",)),
    ("上海市", ("上海",)),
    ("重庆市", ("重庆",)),
    ("河北省", ("河北",)),
    ("山西省", ("山西",)),
    ("辽宁省", ("辽宁",)),
    ("吉林省", ("吉林",)),
    ("黑龙江省", ("黑龙江",)),
    ("江苏省", ("江苏",)),
    ("浙江省", ("浙江",)),
    ("安徽省", ("安徽",)),
    ("福建省", ("福建",)),
    ("江西省", ("江西",)),
    ("山东省", ("山东",)),
    ("河南省", ("河南",)),
    ("湖北省", ("湖北",)),
    ("湖南省", ("湖南",)),
    ("广东省", ("广东",)),
    ("海南省", ("海南",)),
    ("四川省", ("四川",)),
    ("贵州省", ("贵州",)),
    ("云南省", ("云南",)),
    ("陕西省", ("陕西",)),
    ("甘肃省", ("甘肃",)),
    ("青海省", ("青海",)),
    ("内蒙古自治区", ("内蒙古",)),
    ("广西壮族自治区", ("广西",)),
    ("西藏自治区", ("西藏",)),
    ("宁夏回族自治区", ("宁夏",)),
    ("新疆维吾尔自治区", ("新疆",)),
)

_MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})

# Every name form ("江苏省", "江苏") mapped to its official province name.
_PROVINCE_BY_FORM: dict[str, str] = {
    form: official for official, shorts in _PROVINCES for form in (official, *shorts)
}

# The lengths of the name forms, longest first, so that "江苏省" wins over "江苏" and the
# official name is matched whole.
_FORM_LENGTHS: tuple[int, ...] = tuple(sorted({len(form) for form in _PROVINCE_BY_FORM},
                                              reverse=True))


def split_region(description: str) -> tuple[str, str]:
    """Split a geocoder description such as "江苏省常州市" into ("江苏省", "常州市").

    Municipalities return the same name twice ("上海市", "上海市"). A description that names
    no mainland province, such as "中国" for a nationwide mobile range, returns ("", "").
    When the data lists several cities ("南宁市、崇左市") only the first is kept.
    """
    form = _province_form(description)
    if form is None:
        return "", ""

    province = _PROVINCE_BY_FORM[form]
    city = description[len(form):].split("、", 1)[0]
    if province in _MUNICIPALITIES:
        city = province

    return province, city


def _province_form(description: str) -> str | None:
    """Return the longest province name form that `description` starts with."""
    for length in _FORM_LENGTHS:
        # When `description` is shorter than `length`, the slice is the whole description,
        # so a hit there is still its longest form.
        head = description[:length]
        if head in _PROVINCE_BY_FORM:
            return head

    return None
