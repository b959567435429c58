"""Hot issues: same place + same problem within a window, ranked by heat; filler never a keyword."""

from __future__ import annotations

from datetime import datetime, timedelta

from nlp.hotissues import FILLER, Report, extract_places, find_hot_issues, heat_index, is_keyword, linked

T0 = datetime(2026, 5, 1, 9, 0)


def _r(i: int, text: str, who: str, hours: float = 0, **kw: object) -> Report:
    return Report(id=f"m{i}", text=text, reporter=who, at=T0 + timedelta(hours=hours), **kw)  # type: ignore[arg-type]


NOISE = [
    _r(1, "尊敬的领导您好！阳光花园小区门口的工地晚上施工噪音太大，哈哈哈，吵得睡不着，谢谢", "a", 0),
    _r(2, "阳光花园小区旁边工地半夜还在施工，噪音扰民，睡不着觉", "b", 5),
    _r(3, "您好，阳光花园小区附近工地夜间施工噪音很大，严重扰民，谢谢", "c", 30),
    _r(4, "阳光花园小区门口工地夜里施工太吵了，噪音扰民，哈哈哈哈", "c", 50),
]
LIGHTS = [
    _r(5, "建设路的路灯坏了好几天，晚上黑漆漆的", "d", 1),
    _r(6, "建设路路灯不亮了，晚上走路很黑", "e", 3),
]
OTHER = [
    _r(7, "阳光花园小区的电梯坏了，老人上不了楼", "f", 2),  # same place, another problem
    _r(8, "幸福路菜场门口垃圾堆了三天没人清运", "g", 4),  # alone
    _r(9, "幸福家园小区的电梯又坏了，困人了", "h", 6),  # same problem, another place
]


def test_same_place_and_problem_cluster_and_others_stay_apart():
    issues = find_hot_issues([*NOISE, *LIGHTS, *OTHER], top=None)
    groups = {frozenset(h.report_ids) for h in issues}
    assert groups == {frozenset({"m1", "m2", "m3", "m4"}), frozenset({"m5", "m6"})}
    noise = issues[0]
    assert noise.place == "阳光花园" and noise.reports == 4 and noise.residents == 3
    assert "噪音" in noise.keywords and "施工" in noise.keywords


def test_hotter_issue_ranks_first():
    issues = find_hot_issues([*LIGHTS, *NOISE])
    assert [h.place for h in issues] == ["阳光花园", "建设路"]
    assert issues[0].heat > issues[1].heat


def test_stop_words_laughter_and_courtesy_are_never_keywords():
    for word in ("哈哈哈", "哈哈哈哈", "谢谢", "您好", "尊敬的领导", "领导", "问题", "希望"):
        assert not is_keyword(word), word
    issues = find_hot_issues([*NOISE, *LIGHTS], top=None, keywords=20)
    words = {w for h in issues for w in h.keywords}
    assert words and not words & FILLER and not any(w.startswith("哈") for w in words)


def test_reports_outside_the_window_are_separate():
    far = _r(10, "建设路路灯不亮了，晚上走路很黑", "e", 24 * 40)
    issues = find_hot_issues([LIGHTS[0], far], window=timedelta(days=14))
    assert issues == []


def test_one_resident_writing_again_is_no_hot_issue():
    again = [_r(11, "建设路的路灯坏了好几天", "d", 0), _r(12, "建设路的路灯坏了好几天，还没修", "d", 8)]
    assert find_hot_issues(again) == []
    assert len(find_hot_issues(again, min_residents=1)) == 1


def test_a_known_place_and_category_decide_over_the_text():
    same_grid = [
        _r(13, "门口垃圾没人清运，臭死了", "a", place="G1", category="garbage"),
        _r(14, "门口的垃圾好几天没人清运", "b", 2, place="G1", category="garbage"),
        _r(15, "门口的垃圾好几天没人清运", "c", 3, place="G2", category="garbage"),
        _r(16, "门口垃圾没人清运，臭死了", "d", 4, place="G1", category="lights"),
    ]
    (issue,) = find_hot_issues(same_grid)
    assert issue.report_ids == ("m13", "m14") and issue.place == "G1" and issue.category == "garbage"


def test_heat_counts_residents_most_then_repeats_span_and_likes():
    base = heat_index(reports=3, residents=3, span=timedelta(0))
    assert base == 3
    assert heat_index(reports=3, residents=2, span=timedelta(0)) < base
    assert heat_index(reports=3, residents=3, span=timedelta(days=5)) > base
    assert heat_index(reports=3, residents=3, span=timedelta(0), likes=40) > base


def test_places_lose_their_administrative_prefix():
    assert "丽景花园" in extract_places("A3区丽景花园小区门口积水")
    assert "建设路" in extract_places("投诉A市建设路夜市噪音")
    assert not any(p.endswith("政府") for p in extract_places("请市政府和区政府管一管"))


def test_thousands_of_reports_are_handled():
    many = [
        _r(100 + i, f"第{i % 50}号小区{['路灯坏了', '垃圾没人清运', '噪音扰民'][i % 3]}，请处理", f"u{i}", i % 200)
        for i in range(3000)
    ]
    issues = find_hot_issues(many, top=None)
    assert issues and all(h.residents >= 2 for h in issues)


def test_the_pair_rule_needs_a_shared_place_and_a_similar_problem():
    assert linked(NOISE[0], NOISE[1])
    assert not linked(NOISE[0], OTHER[0])  # same estate, a lift instead of noise
    assert not linked(OTHER[0], OTHER[2])  # a broken lift, but two estates


def test_words_that_only_look_like_places_are_not_places():
    places = extract_places("按照当前的线路规划，附近道路和马路都很堵，我们小区没有出路")
    assert not places
