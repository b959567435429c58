"""Urgency detection: recall on hand-written emergencies, false alarms on ordinary complaints, hotlines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from nlp.urgency import GAS_COMPANY, KIND_HOTLINES, detect

CASES: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "urgency_cases.yaml").read_text("utf-8"))
EMERGENCIES: list[dict[str, str]] = CASES["emergencies"]
ORDINARY: list[str] = CASES["ordinary"]


def test_case_file_has_enough_cases_of_every_kind() -> None:
    assert len(EMERGENCIES) >= 50
    assert len(ORDINARY) >= 200
    kinds = {c["kind"] for c in EMERGENCIES}
    assert {
        "gas_leak",
        "fire_smoke",
        "trapped",
        "electric_shock",
        "collapse",
        "flooding",
        "violence",
    } <= kinds


def test_recall_on_emergencies_is_complete() -> None:
    missed = [c["text"] for c in EMERGENCIES if not detect(c["text"]).is_urgent]
    recall = 1 - len(missed) / len(EMERGENCIES)
    assert recall == 1.0, f"recall {recall:.3f}, missed: {missed}"


def test_emergencies_are_given_their_expected_kind() -> None:
    wrong = [(c["text"], detect(c["text"]).kinds) for c in EMERGENCIES if c["kind"] not in detect(c["text"]).kinds]
    assert not wrong, wrong


def test_false_alarm_rate_on_ordinary_complaints_is_at_most_three_percent() -> None:
    alarms = [(t, detect(t).matched) for t in ORDINARY if detect(t).is_urgent]
    rate = len(alarms) / len(ORDINARY)
    assert rate <= 0.03, f"false alarm rate {rate:.3f}: {alarms}"


@pytest.mark.parametrize(
    ("text", "hotline"),
    [
        ("三楼着火了", "119"),
        ("电梯困人了", "119"),
        ("楼房倒塌了", "119"),
        ("楼下有人打架", "110"),
        ("有人触电了", "120"),
        ("老人晕倒了", "120"),
        ("一楼被淹了", "119"),
        ("一楼被淹了", "110"),
        ("楼道里煤气味很重", "119"),
        ("楼道里煤气味很重", GAS_COMPANY),
    ],
)
def test_hotlines_fit_the_emergency(text: str, hotline: str) -> None:
    assert hotline in detect(text).hotlines


def test_hotlines_are_the_union_of_the_kinds_without_repeats() -> None:
    result = detect("楼下有人打架，还把店里点着了，着火了")
    assert set(result.kinds) >= {"violence", "fire_smoke"}
    expected = {line for kind in result.kinds for line in KIND_HOTLINES[kind]}
    assert set(result.hotlines) == expected
    assert len(result.hotlines) == len(set(result.hotlines))


def test_ordinary_complaint_gives_empty_result() -> None:
    result = detect("小区门口的垃圾三天没人收了")
    assert result == type(result)(False, (), (), ())


@pytest.mark.parametrize(
    ("negated", "plain"),
    [
        ("家里没有闻到煤气味", "家里闻到煤气味"),
        ("没人被困", "有人被困"),
        ("不是着火，是邻居在烧烤", "着火了，不是烧烤"),
    ],
)
def test_negation_right_before_the_trigger_silences_it(negated: str, plain: str) -> None:
    assert not detect(negated).is_urgent
    assert detect(plain).is_urgent


def test_uncertain_but_present_danger_is_urgent() -> None:
    assert detect("不知道是不是燃气泄漏，味道很大").is_urgent
    assert detect("好像有煤气味").is_urgent


def test_past_resolved_event_is_not_urgent_but_a_fresh_one_after_it_is() -> None:
    assert not detect("上周着火了，现在已经好了").is_urgent
    assert detect("上周着火了，现在又冒烟了").is_urgent


def test_hazard_and_worry_are_not_urgent() -> None:
    assert not detect("电梯老是坏，有困人隐患").is_urgent
    assert not detect("电动车在楼道充电，担心会着火").is_urgent


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("樓道裡煤氣洩漏了", "楼道里煤气泄漏了"),
        ("電梯困人", "电梯困人"),
        ("樓下有人打架鬥毆", "楼下有人打架斗殴"),
    ],
)
def test_traditional_characters_give_the_same_result(traditional: str, simplified: str) -> None:
    assert detect(traditional) == detect(simplified)
    assert detect(traditional).is_urgent


def test_full_width_punctuation_and_letters_do_not_change_the_result() -> None:
    assert detect("Ａ栋着火了！！") == detect("A栋着火了!!")
