"""One source for every text: each domain error code has a zh and an en entry with the same placeholders."""

from __future__ import annotations

import ast
import string
from pathlib import Path

from backend.domain.errors import DomainError, GuardFailed, PermissionDenied
from backend.domain.permissions import HANDLER_ACTIONS
from backend.texts import LANGUAGES, Term, catalogue, error_text, matches, t

BACKEND_DIR = Path(__file__).resolve().parents[2] / "backend"


def _trees() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(encoding="utf-8")) for path in BACKEND_DIR.rglob("*.py")}


def _domain_error_classes(trees: dict[Path, ast.Module]) -> set[str]:
    """DomainError and every class in backend/ that derives from it, found by name."""
    names = {"DomainError"}
    grew = True
    while grew:
        grew = False
        for tree in trees.values():
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and node.name not in names
                    and any(isinstance(base, ast.Name) and base.id in names for base in node.bases)
                ):
                    names.add(node.name)
                    grew = True
    return names


def _domain_error_calls() -> list[tuple[str, ast.Call]]:
    trees = _trees()
    classes = _domain_error_classes(trees)
    return [
        (f"{path.relative_to(BACKEND_DIR.parent)}:{node.lineno}", node)
        for path, tree in trees.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in classes
    ]


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_domain_error_in_backend_is_raised_with_a_catalogue_code() -> None:
    calls = _domain_error_calls()
    assert len(calls) >= 40, "found too few domain errors in backend/"
    for where, call in calls:
        first = call.args[0] if call.args else None
        assert isinstance(first, ast.Constant) and isinstance(first.value, str), f"{where}: no literal code"
        assert first.value.startswith("error."), f"{where}: {first.value!r} is a message, not an error.* code"


def test_every_domain_error_code_has_zh_and_en_texts() -> None:
    texts = catalogue()
    codes = {call.args[0].value for _, call in _domain_error_calls() if isinstance(call.args[0], ast.Constant)}
    for code in codes:
        assert code in texts, f"{code} is not in the catalogue"
        for lang in LANGUAGES:
            assert texts[code].get(lang, "").strip(), f"{code} has no {lang} text"


def test_the_params_a_raise_passes_are_the_placeholders_of_its_text() -> None:
    texts = catalogue()
    for where, call in _domain_error_calls():
        code = call.args[0].value  # type: ignore[attr-defined]
        given = {kw.arg for kw in call.keywords}
        assert given == _fields(texts[code]["zh"]), f"{where}: {code} takes {sorted(_fields(texts[code]['zh']))}"


def test_zh_and_en_of_every_key_have_the_same_placeholders() -> None:
    for key, entry in catalogue().items():
        assert _fields(entry["zh"]) == _fields(entry["en"]), f"{key}: placeholders differ between zh and en"


def test_an_action_named_in_a_refusal_has_a_text_in_both_languages() -> None:
    for action in HANDLER_ACTIONS:
        for lang in LANGUAGES:
            assert f"task.{action}" in catalogue() and t(f"task.{action}", lang)


def test_an_error_reads_in_chinese_by_default_and_in_english_on_request() -> None:
    error = GuardFailed("error.reopen_limit", count=2, limit=2)
    assert (error.code, error.params, error.kind) == ("error.reopen_limit", {"count": 2, "limit": 2}, "guard_failed")
    assert str(error) == error.message == "已重新打开 2 次，达到上限 2 (reopen limit reached)"
    assert error_text(error, "en") == "Reopened 2 times already; the limit is 2."


def test_a_term_parameter_is_shown_in_the_readers_language() -> None:
    error: DomainError = PermissionDenied("error.not_assigned_to_you", number="GB1", action=Term("task.accept"))
    assert str(error) == "工单 GB1 未派给您，不能接单"
    assert error_text(error, "en") == "Ticket GB1 is not assigned to you, so you cannot accept it."


def test_command_words_match_with_the_punctuation_a_message_ends_with() -> None:
    assert matches("cmd.mytickets", "我的工单")
    assert matches("cmd.mytickets", " 我的工单？")
    assert matches("cmd.yes", "是的。")
    assert matches("cmd.yes", "OK!")
    assert matches("cmd.help", "?")  # a word made of punctuation still counts as sent
    assert not matches("cmd.yes", "是的吧")
    assert not matches("cmd.yes", "。")
