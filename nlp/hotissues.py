"""Hot issues: many residents reporting the same problem at the same place within a time window.

Two reports belong to one issue when they share a place key, were made within `window` of each other, have
the same category (when both have one) and their texts are similar (nlp.duplicates.similarity ≥ `threshold`
over the first `TEXT_CHARS` characters, so that one long letter does not dilute the score, with the place
names taken out, so that the shared place does not make two problems look alike). Issues are the
connected groups of such pairs (union-find), so a chain of similar reports over weeks is one issue.

The place key is the report's own place when the caller knows it (a ticket's grid); otherwise the place
names found in its first `TEXT_CHARS` characters (`extract_places`: an estate, road, village, school …
named before a suffix such as 小区, 路, 村, 中学, with the administrative prefixes A市 / A3区 / 某某县 cut
off). A report without a place joins no issue.

Heat index (documented for the dashboard and the public report):

    heat = residents + 0.5 × (reports − residents) + 0.5 × ln(1 + span_days) + 0.5 × ln(1 + likes)

Distinct residents count most (one person writing five times is one voice and a half); repeated reports add a
little; a problem that keeps coming back over days (span) and one that others endorse (likes, where the
platform has them) rank a little higher. An issue needs `min_residents` distinct residents (default 2).

Keywords are the content words most typical of the issue (document frequency inside it × inverse document
frequency over all reports given), never a stop word, courtesy or filler (您好, 谢谢, 哈哈哈, 尊敬的领导 …), a
place name, a number or a single character.

Measured on 4,270 real mayor-mailbox letters (`python -m bench.hotissues`, BENCHMARKS.md): about 2 s for the
file; of the top 10 hot issues, 9 judged by hand to be one problem at one place (the tenth joins two problems
of one food court); as a pair rule, 0.90 precision and 0.60 recall against 300 hand-labelled pairs (it misses
pairs whose place is named differently or not at all).
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from nlp.duplicates import similarity
from nlp.normalize import normalize_text

DEFAULT_WINDOW = timedelta(days=14)
DEFAULT_THRESHOLD = 0.22
TEXT_CHARS = 160  # of each text compared (a title plus its first sentences)
MAX_BLOCK = 400  # a place key shared by more reports than this is too vague to group by

_SUFFIXES = (
    "小区|花园|家园|嘉园|公寓|社区|新村|村|镇|乡|街道|大道|路|街|巷|广场|大厦|中学|小学|学校|学院|大学|幼儿园|"
    "医院|公园|市场|菜场|商场|新城|华府|国际|苑|湾|府|城|工业园|楼盘|宿舍|家属院"
)
_ADMIN_OR_FUNCTION = re.compile(
    r"[a-z]\d*[市区县州省]|[^\u4e00-\u9fff0-9a-z]|省|县|(?<![超菜城都])市(?!场)|(?<![小社园景校厂矿城])区"
    r"|的|在|与|和|及|对|向|给|把|被|请|关于|要求|建议|反映|导致|投诉|咨询|举报|希望|我们|我是|位于|附近|周边|旁边|门口|对面|距离"
)
_SENTENCE_END = re.compile(r"[。！？!?\n]")
_ADMIN = re.compile(r"[A-Za-z]\d*[市区县州省]")
_PLACE = re.compile(rf"[\u4e00-\u9fff0-9]{{1,7}}?(?:{_SUFFIXES})")
_SUFFIX_AT_END = re.compile(rf"(?:{_SUFFIXES})$")
# Words that end like a place but are none: a route (线路), road in general (道路, 马路), a way out (出路) …
_NOT_PLACES = ("政府", "线路", "道路", "马路", "公路", "出路", "思路", "门路", "上路", "同小区", "本小区", "该小区")
_GENERIC_STEMS = frozenset(
    "政府 安置 导致 我 该 本 这个 整个 公交线 老 新 农 乡 城 镇 村 小 大 各 全 本地 当地 外".split()  # noqa: SIM905
)

FILLER_FILE = Path(__file__).with_name("filler.txt")
# Words that carry no problem: courtesy, filler, laughter and the vocabulary of every complaint letter.
FILLER = frozenset(
    w.strip() for w in FILLER_FILE.read_text(encoding="utf-8").splitlines() if w.strip() and not w.startswith("#")
)


@dataclass(frozen=True, slots=True)
class Report:
    """One report as hot-issue finding sees it; `place` is a known place key (a grid), else found in the text."""

    id: str
    text: str
    reporter: str
    at: datetime
    place: str | None = None
    category: str | None = None
    likes: int = 0


@dataclass(frozen=True, slots=True)
class HotIssue:
    """A group of reports of one problem at one place, with its heat index."""

    place: str
    category: str | None
    keywords: tuple[str, ...]
    report_ids: tuple[str, ...]
    residents: int
    first: datetime
    last: datetime
    likes: int
    heat: float

    @property
    def reports(self) -> int:
        """How many reports the issue has."""
        return len(self.report_ids)


def heat_index(*, reports: int, residents: int, span: timedelta, likes: int = 0) -> float:
    """The heat of an issue (see the module docstring for the formula)."""
    days = max(span.total_seconds(), 0.0) / 86400
    value = residents + 0.5 * (reports - residents) + 0.5 * math.log1p(days) + 0.5 * math.log1p(max(likes, 0))
    return round(value, 3)


def extract_places(text: str) -> frozenset[str]:
    """Place names in a text: estates, roads, villages, schools … without their administrative prefix."""
    return _places_in(normalize_text(text))


@lru_cache(maxsize=16384)
def _places_in(normalized: str) -> frozenset[str]:
    found: set[str] = set()
    for segment in _ADMIN_OR_FUNCTION.split(normalized):
        for match in _PLACE.finditer(segment):
            name = match.group()
            stem = _SUFFIX_AT_END.sub("", name)
            if len(name) >= 3 and stem not in _GENERIC_STEMS and not stem.isdigit() and not name.endswith(_NOT_PLACES):
                found.add(name)
    return frozenset(found)


@lru_cache(maxsize=65536)
def is_keyword(word: str) -> bool:
    """Whether a token may name a problem: content, two characters or more, no filler, number or Latin."""
    return len(word) >= 2 and word not in FILLER and not word.isascii() and not any(c.isdigit() for c in word)


@lru_cache(maxsize=8192)  # the statistics page counts the words of mostly the same newest texts again
def content_words(text: str) -> frozenset[str]:
    """The distinct content words of a text (tokens that may name a problem, see is_keyword)."""
    from nlp.tokenize import default_tokenizer

    return frozenset(w for w in default_tokenizer().tokenize(text) if is_keyword(w))


@lru_cache(maxsize=16384)
def _head(text: str) -> str:
    """The normalised start of a text: where a complaint names its place and problem."""
    return normalize_text(text[:TEXT_CHARS])


def _lead(text: str) -> str:
    """The first sentence of the head (a letter's title, a chat report's main point)."""
    return _SENTENCE_END.split(_head(text), maxsplit=1)[0]


def _problem_text(report: Report, places: frozenset[str]) -> str:
    """The text's head without its place names: the shared place must not make two problems look alike."""
    text = _ADMIN.sub(" ", _head(report.text))
    for place in sorted(places, key=len, reverse=True):
        text = text.replace(place, " ")
    return text


class _Groups:
    """Union-find over report indices."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _place_keys(report: Report) -> frozenset[str]:
    if report.place:
        return frozenset((report.place,))
    return _places_in(_head(report.text))


def linked(a: Report, b: Report, *, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """Whether two reports are one issue by place, category and text (the time window aside)."""
    ka, kb = _place_keys(a), _place_keys(b)
    if not ka & kb or (a.category and b.category and a.category != b.category):
        return False
    return similarity(_problem_text(a, ka), _problem_text(b, kb)) >= threshold


def _link(reports: Sequence[Report], keys: list[frozenset[str]], window: timedelta, threshold: float) -> _Groups:
    blocks: dict[str, list[int]] = defaultdict(list)
    for i, ks in enumerate(keys):
        for key in ks:
            blocks[key].append(i)
    groups = _Groups(len(reports))
    problems = [_problem_text(r, ks) for r, ks in zip(reports, keys, strict=True)]
    seen: set[tuple[int, int]] = set()
    for members in blocks.values():
        if len(members) < 2 or len(members) > MAX_BLOCK:
            continue
        members.sort(key=lambda i: reports[i].at)
        for pos, i in enumerate(members):
            a = reports[i]
            for j in members[pos + 1 :]:
                b = reports[j]
                if b.at - a.at > window:
                    break
                if (i, j) in seen or (a.category and b.category and a.category != b.category):
                    continue
                seen.add((i, j))
                if groups.find(i) != groups.find(j) and similarity(problems[i], problems[j]) >= threshold:
                    groups.union(i, j)
    return groups


@lru_cache(maxsize=8192)  # a dashboard asks again about mostly the same tickets
def _keywords_in(text: str) -> frozenset[str]:
    from nlp.tokenize import default_tokenizer

    return frozenset(w for w in default_tokenizer()(_ADMIN.sub(" ", text)) if is_keyword(w))


@dataclass(frozen=True, slots=True)
class _Words:
    """The keyword candidates of every report (its head, its first sentence) and their document frequency."""

    heads: list[frozenset[str]]
    leads: list[frozenset[str]]
    df: Counter[str]


def _words(items: list[Report]) -> _Words:
    heads = [_keywords_in(_head(r.text)) for r in items]
    leads = [_keywords_in(_lead(r.text)) for r in items]
    df: Counter[str] = Counter()
    for ws in heads:
        df.update(ws)
    return _Words(heads, leads, df)


def _keywords(members: list[int], words: _Words, places: set[str], top: int) -> tuple[str, ...]:
    n, df = len(words.heads), words.df
    inside: Counter[str] = Counter()
    for i in members:
        inside.update(words.heads[i])
        inside.update(words.leads[i])  # a word of the first sentence (a title) counts twice
    shared = 3 if len(members) > 1 else 1  # a word one report alone uses says nothing of the issue
    scored = [
        (count * math.log((1 + n) / (1 + df[w])), w)
        for w, count in inside.items()
        if count >= shared and not any(w in p for p in places)
    ]
    scored.sort(key=lambda s: (-s[0], s[1]))
    return tuple(w for _, w in scored[:top])


def find_hot_issues(
    reports: Iterable[Report],
    *,
    window: timedelta = DEFAULT_WINDOW,
    threshold: float = DEFAULT_THRESHOLD,
    min_residents: int = 2,
    top: int | None = 10,
    keywords: int = 4,
) -> list[HotIssue]:
    """The hot issues among some reports, hottest first."""

    items = list(reports)
    keys = [_place_keys(r) for r in items]
    groups = _link(items, keys, window, threshold)
    clusters: dict[int, list[int]] = defaultdict(list)
    for i in range(len(items)):
        clusters[groups.find(i)].append(i)
    hot = [m for m in clusters.values() if len({items[i].reporter for i in m}) >= min_residents]
    if not hot:
        return []
    words = _words(items)
    issues = [_issue(items, keys, m, words, keywords) for m in hot]
    issues.sort(key=lambda h: (-h.heat, h.first, h.report_ids[0]))
    return issues if top is None else issues[:top]


def _issue(
    items: list[Report],
    keys: list[frozenset[str]],
    members: list[int],
    words: _Words,
    keywords: int,
) -> HotIssue:
    place_counts: Counter[str] = Counter()
    for i in members:
        place_counts.update(keys[i])
    # The place most reports name; on a tie the one named earliest (a title names its place first).
    first_at = {p: sum(_head(items[i].text).find(p) % TEXT_CHARS for i in members) for p in place_counts}
    place = min(place_counts, key=lambda p: (-place_counts[p], first_at[p], p))
    categories = Counter(items[i].category for i in members if items[i].category)
    times = [items[i].at for i in members]
    likes = sum(items[i].likes for i in members)
    residents = len({items[i].reporter for i in members})
    ordered = sorted(members, key=lambda i: (items[i].at, items[i].id))
    return HotIssue(
        place=place,
        category=categories.most_common(1)[0][0] if categories else None,
        keywords=_keywords(members, words, set(place_counts), keywords),
        report_ids=tuple(items[i].id for i in ordered),
        residents=residents,
        first=min(times),
        last=max(times),
        likes=likes,
        heat=heat_index(reports=len(members), residents=residents, span=max(times) - min(times), likes=likes),
    )
