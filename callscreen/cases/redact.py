"""Redaction of personal details from closed-case text for the knowledge base."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pypinyin import Style, lazy_pinyin

# One digit, ASCII or full-width as Chinese input methods type it.
_DIGIT = "[0-9０-９]"
# Separators people type inside phone and ID numbers: spaces (full-width too), hyphens and
# dashes, dots and middle dots.
_SEPARATOR = r"[\s\u3000\-－‐–—.．·・]"
# Phone numbers, extensions, ID-card and bank numbers: any run of four or more digits with
# single separators allowed between them, and the check character X of an ID-card number.
# Years go too; a knowledge base loses little by it.
DIGIT_RUN = re.compile(
    rf"[+＋]?{_DIGIT}(?:{_SEPARATOR}?{_DIGIT}){{3,}}(?:[Xx×Ｘｘ](?![A-Za-z]))?")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
MASK = "[已脱敏]"

# A Han character, for comparing a run of them with the name by pinyin.
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
# How colleagues shorten a name to the surname: 小张, 老张, 阿张, 张总, 张工, 张经理 ...
NICKNAME_PREFIXES = ("小", "老", "阿")
NICKNAME_SUFFIXES = ("总", "總", "工", "经理", "經理", "主任", "主管", "老师", "老師", "师傅",
                     "師傅", "姐", "哥", "先生", "女士", "小姐", "科长", "科長", "处长", "處長")
# Common words that look like a nickname of the surnames 于, 时 and 公; they stay.
# NOTE: so 小于 stays even where it names an employee surnamed 于.
NICKNAME_LOOKALIKES = ("小于", "小时", "老公")
# Surnames of two characters; the others are the first character of the name.
COMPOUND_SURNAMES = ("欧阳", "歐陽", "司马", "司馬", "上官", "诸葛", "諸葛", "东方", "東方",
                     "皇甫", "尉迟", "尉遲", "公孙", "公孫", "慕容", "令狐", "长孙", "長孫",
                     "夏侯", "轩辕", "軒轅", "端木", "西门", "西門", "南宫", "南宮")
# Traditional forms of common surnames, so 小張 and 張總 go as 小张 and 张总 do. A name's
# full traditional spelling (張偉) is caught by pinyin instead.
TRADITIONAL_SURNAMES = {
    "张": "張", "刘": "劉", "陈": "陳", "杨": "楊", "黄": "黃", "赵": "趙", "吴": "吳",
    "孙": "孫", "马": "馬", "罗": "羅", "郑": "鄭", "谢": "謝", "许": "許", "韩": "韓",
    "冯": "馮", "邓": "鄧", "萧": "蕭", "蒋": "蔣", "叶": "葉", "苏": "蘇", "吕": "呂",
    "卢": "盧", "钟": "鍾", "谭": "譚", "陆": "陸", "贾": "賈", "韦": "韋", "邹": "鄒",
    "闫": "閆", "龙": "龍", "贺": "賀", "顾": "顧", "龚": "龔", "万": "萬", "钱": "錢",
    "严": "嚴", "汤": "湯", "欧阳": "歐陽", "诸葛": "諸葛", "东方": "東方", "长孙": "長孫",
}


def redact(text: str, *, names: Sequence[str], pinyin: Sequence[str] = ()) -> str:
    """Replace the employee's name in every form, digit runs and e-mail addresses with a mask.

    A Chinese name goes as written, in traditional characters or any other spelling with the
    same pinyin, as pinyin in either order (`zhangwei`, `Zhang Wei`, `Wei Zhang`) and as a
    surname nickname (小张, 张总). `pinyin` adds spellings the directory stores. Names are
    replaced longest first, so "张伟" inside "张伟伟" leaves no fragment.
    """
    redacted = EMAIL.sub(MASK, text)
    for name in sorted((name for name in names if name), key=len, reverse=True):
        redacted = redacted.replace(name, MASK)

    chinese = [name for name in names if name and _HAN.fullmatch(name)]
    for name in chinese:
        redacted = _redact_same_pinyin(redacted, name)
        redacted = _redact_nicknames(redacted, name)

    spellings = [" ".join(lazy_pinyin(name, style=Style.NORMAL)) for name in chinese]
    redacted = _redact_romanised(redacted, [*spellings, *(p for p in pinyin if p)])

    return DIGIT_RUN.sub(MASK, redacted)


def _redact_same_pinyin(text: str, name: str) -> str:
    """Mask runs of Han characters that read like `name`, such as 張偉 for 张伟.

    Homophones such as 章伟 go too, which also catches input-method typos of the name.
    """
    syllables = lazy_pinyin(name, style=Style.NORMAL)
    size = len(name)

    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        pieces: list[str] = []
        index = 0
        while index < len(run):
            window = run[index:index + size]
            if len(window) == size and lazy_pinyin(window, style=Style.NORMAL) == syllables:
                pieces.append(MASK)
                index += size
            else:
                pieces.append(run[index])
                index += 1
        return "".join(pieces)

    return _HAN.sub(replace, text)


def _redact_nicknames(text: str, name: str) -> str:
    """Mask the surname with a nickname prefix or a title, in simplified or traditional form."""
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else name[0]
    forms = {surname, TRADITIONAL_SURNAMES.get(surname, surname)}
    surnames = "|".join(re.escape(form) for form in sorted(forms))
    prefixes = "|".join(NICKNAME_PREFIXES)
    suffixes = "|".join(sorted(NICKNAME_SUFFIXES, key=len, reverse=True))
    nickname = re.compile(rf"(?:{prefixes})(?:{surnames})|(?:{surnames})(?:{suffixes})")

    def replace(match: re.Match[str]) -> str:
        return match.group(0) if match.group(0) in NICKNAME_LOOKALIKES else MASK

    return nickname.sub(replace, text)


def _redact_romanised(text: str, spellings: list[str]) -> str:
    """Mask pinyin spellings, with or without separators and in either syllable order."""
    patterns: set[str] = set()
    for spelling in spellings:
        syllables = spelling.lower().split()
        if not syllables:
            continue
        orders = [syllables]
        if len(syllables) > 1:
            # Western order puts the given name first: "Wei Zhang".
            orders.append([*syllables[1:], syllables[0]])
        for order in orders:
            patterns.add(r"[\s\-_.·']*".join(re.escape(syllable) for syllable in order))

    for pattern in sorted(patterns, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z]){pattern}(?![A-Za-z])", MASK, text, flags=re.IGNORECASE)

    return text
