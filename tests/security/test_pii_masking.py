"""Personal data never reaches a log line in clear: phones, ID numbers, landlines and exact addresses are masked."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from backend.logging_setup import PiiMaskingFilter, configure_logging, mask_pii

log = logging.getLogger("gridbot.test.pii")


@pytest.fixture
def masked(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """configure_logging installed on the root handlers (pytest's capture handler included), undone afterwards."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    before = {h: list(h.filters) for h in handlers}
    caplog.set_level(logging.INFO)
    configure_logging("INFO")
    yield caplog
    for h in root.handlers:
        h.filters[:] = before.get(h, [])
    root.handlers[:] = handlers
    root.setLevel(level)


CASES = [
    ("居民电话13812345678，请回电", "居民电话138****5678，请回电"),
    ("手机 +86 138-1234-5678", "手机 +86 138****5678"),
    ("电话 139 1234 5678", "电话 139****5678"),
    ("全角１３８１２３４５６７８号码", "全角138****5678号码"),
    ("汉字一三八一二三四五六七八", "汉字138****5678"),
    ("身份证410105199001011234", "身份证410105********1234"),
    ("身份证41010519900101123X", "身份证410105********123X"),
    ("身份证41010519900101123x。", "身份证410105********123x。"),
    ("身份证４１０１０５１９９００３０７１２３Ｘ", "身份证410105********123X"),
    ("座机0371-65432100", "座机0371-****2100"),
    ("座机（０３７１）６５４３２１００", "座机(0371)****2100"),
    ("北京010 87654321", "北京010 ****4321"),
    ("住在建设路123号", "住在建设路**号"),
    ("花园路12-3号院门口", "花园路**号院门口"),
    ("幸福小区3号楼2单元502室漏水", "幸福小区*号楼*单元***室漏水"),
    ("幸福小区５栋１单元１２０１楼道灯坏了", "幸福小区*栋*单元****楼道灯坏了"),
    ("家住3-2-502", "家住*-*-***"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_personal_data_is_masked_in_logged_messages(masked: pytest.LogCaptureFixture, raw: str, expected: str) -> None:
    log.info("report from resident: %s", raw)
    assert masked.records[-1].getMessage() == f"report from resident: {expected}"
    assert masked.messages[-1] == f"report from resident: {expected}"


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_mask_pii_masks_the_same_as_the_filter(raw: str, expected: str) -> None:
    assert mask_pii(raw) == expected


ORDINARY = [
    "工单GB20261122-0001已派发给GW001",
    "created 2026-11-22 10:30:00+08:00, due 2026-11-24T18:00:00Z",
    "罚款1380.50元，补贴 13800 元，合计¥12,345,678",
    "11月3号下午3点，第3次催办，超时72小时",
    "一室一厅，三楼，一号线地铁站",
    "msgid=1234567890123456789 ts=1763812345678 openid=o_resident_13812345",
    "12345热线，网格LC010101，坐标113.5895,34.73925",
    "GB20261122-0001 → GB20261122-0002，共 2 件",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_not_mangled(masked: pytest.LogCaptureFixture, text: str) -> None:
    log.warning("%s", text)
    assert masked.messages[-1] == text
    assert mask_pii(text) == text


def test_arguments_of_any_type_are_masked(masked: pytest.LogCaptureFixture) -> None:
    log.info("ticket %s reporter %r phone=%d", "GB20261122-0001", {"phone": "13912345678"}, 13700001111)
    assert masked.messages[-1] == "ticket GB20261122-0001 reporter {'phone': '139****5678'} phone=137****1111"


def test_traceback_text_is_masked(masked: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError("bad reporter 13812345678 at 建设路8号")
    except ValueError:
        log.exception("intake failed")
    assert "13812345678" not in masked.text
    assert "ValueError: bad reporter 138****5678 at 建设路**号" in masked.text


def test_unformattable_message_is_logged_masked_and_does_not_raise(masked: pytest.LogCaptureFixture) -> None:
    log.info("phone %s and %s", "13812345678")  # one argument short
    assert "13812345678" not in masked.text
    assert "138****5678" in masked.messages[-1]


def test_records_from_child_loggers_and_third_parties_are_masked(masked: pytest.LogCaptureFixture) -> None:
    logging.getLogger("thirdparty.access").info('127.0.0.1 - "GET /api/tickets?q=13812345678 HTTP/1.1" 200')
    assert masked.messages[-1] == '127.0.0.1 - "GET /api/tickets?q=138****5678 HTTP/1.1" 200'


def test_configure_logging_installs_one_filter_per_root_handler(masked: pytest.LogCaptureFixture) -> None:
    configure_logging("DEBUG")
    root = logging.getLogger()
    assert root.level == logging.DEBUG
    assert root.handlers
    for handler in root.handlers:
        assert sum(isinstance(f, PiiMaskingFilter) for f in handler.filters) == 1


def test_unknown_log_level_is_refused() -> None:
    with pytest.raises(ValueError, match="LOUD"):
        configure_logging("LOUD")


def test_without_the_filter_the_phone_would_be_logged(caplog: pytest.LogCaptureFixture) -> None:
    """The masking comes from configure_logging, not from pytest: an unconfigured handler shows the raw text."""
    caplog.set_level(logging.INFO)
    log.info("phone %s", "13812345678")
    assert caplog.messages[-1] == "phone 13812345678"
