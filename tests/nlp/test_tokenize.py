"""The tokenizer: user words, Traditional/Simplified, width folding, pickling, threads."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

from nlp.normalize import has_traditional, normalize_text, to_simplified
from nlp.tokenize import Tokenizer, load_stopwords, tokenize, words_from_config

PLACES = ["阳光花园小区", "东湖街道", "锦绣苑", "网格员"]


def test_user_dictionary_words_stay_whole() -> None:
    text = "我住在阳光花园小区3号楼，东湖街道网格员一直没来，锦绣苑那边也一样"
    plain = Tokenizer().tokenize(text)
    with_words = Tokenizer(PLACES).tokenize(text)
    assert "阳光花园小区" not in plain  # the base dictionary splits it: the user word is what joins it
    for word in PLACES:
        assert word in with_words


def test_user_words_are_normalised_like_text() -> None:
    tokens = Tokenizer(["陽光花園小區"]).tokenize("阳光花园小区的路灯坏了")
    assert "阳光花园小区" in tokens


def test_traditional_input_gives_same_tokens_as_simplified() -> None:
    pairs = [
        ("樓道裡的電動車充電線亂拉，太危險了", "楼道里的电动车充电线乱拉，太危险了"),
        ("陽光花園小區的電梯壞了三天沒人修", "阳光花园小区的电梯坏了三天没人修"),
        ("夜間施工噪音擾民，請環保部門處理", "夜间施工噪音扰民，请环保部门处理"),
        ("路燈不亮，晚上出門很不方便", "路灯不亮，晚上出门很不方便"),
    ]
    tok = Tokenizer(PLACES)
    for traditional, simplified in pairs:
        assert has_traditional(traditional)
        assert tok.tokenize(traditional) == tok.tokenize(simplified)


def test_simplified_text_is_left_alone_by_conversion() -> None:
    for text in ("小区门口垃圾堆了三天没人清运", "你说什么时候来修"):  # 么 alone is Simplified (only 么麼 is a phrase)
        assert not has_traditional(text)
        assert to_simplified(text) == text


def test_full_width_forms_fold_to_half_width() -> None:
    assert normalize_text("ＡＢＣ１２３，（测试）！") == "abc123,(测试)!"
    assert normalize_text("　前后　空格　") == "前后 空格"
    tok = Tokenizer()
    assert tok.tokenize("３号楼ＷＩＦＩ信号差") == tok.tokenize("3号楼wifi信号差")


def test_emoji_are_dropped_consistently() -> None:
    assert normalize_text("电梯又坏了😡😡😡") == normalize_text("电梯又坏了😡") == "电梯又坏了"
    assert tokenize("路灯不亮👍🏻，谢谢") == tokenize("路灯不亮，谢谢")


def test_stop_words_punctuation_and_numbers_are_dropped() -> None:
    tokens = Tokenizer().tokenize("我们的小区，3号楼的水管漏水了！！")
    assert {"我们", "的", "了", ",", "!", "3"}.isdisjoint(tokens)
    assert "漏水" in tokens
    assert "的" in load_stopwords()


def test_tokenizer_pickles_with_its_user_words() -> None:
    tok = Tokenizer(PLACES)
    clone = pickle.loads(pickle.dumps(tok))
    text = "阳光花园小区门口的东湖街道网格员"
    assert clone.tokenize(text) == tok.tokenize(text)
    assert "阳光花园小区" in clone.tokenize(text)
    # The same words in another order pickle to the same bytes, so model files hash reproducibly.
    assert pickle.dumps(Tokenizer(reversed(PLACES))) == pickle.dumps(tok)


def test_tokenizer_shared_between_threads_gives_same_tokens() -> None:
    tok = Tokenizer(PLACES)
    texts = [f"第{i}次反映：阳光花园小区{i}号楼电梯坏了，東湖街道網格員沒來" for i in range(400)]
    expected = [tok.tokenize(t) for t in texts]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(tok.tokenize, texts * 4))
    assert results == expected * 4


def test_words_from_config_collects_departments_categories_and_places(tmp_path: Path) -> None:
    (tmp_path / "departments.yaml").write_text(
        yaml.safe_dump(
            {"departments": [{"code": "urban_management", "name": "城市管理和综合执法局", "short": "城管"}]},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    (tmp_path / "taxonomy.yaml").write_text(
        yaml.safe_dump(
            {
                "categories": [
                    {
                        "code": "city_appearance",
                        "name": "市容环境",
                        "subcategories": [{"code": "garbage_piling", "name": "垃圾堆放与清运"}],
                    }
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    geojson = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": None,
                "properties": {"name": "锦绣苑社区", "aliases": ["锦绣苑", "锦绣小区"]},
            }
        ],
    }
    (tmp_path / "demo_city.geojson").write_text(json.dumps(geojson, ensure_ascii=False), encoding="utf-8")
    words = words_from_config(tmp_path)
    for word in [
        "城市管理和综合执法局",
        "城管",
        "市容环境",
        "垃圾堆放",
        "清运",
        "锦绣苑社区",
        "锦绣苑",
        "锦绣小区",
    ]:
        assert word in words
    assert "垃圾堆放与清运" not in words


def test_fast_traditional_conversion_agrees_with_opencc() -> None:
    from opencc import OpenCC

    simplified = [
        "楼道里的电动车充电线乱拉太危险了",
        "这里的路灯坏了一目了然",
        "干干净净的小区变成了垃圾场",
        "乾隆年间的古建筑外墙脱落",
        "后面的面馆卫生不合格",
        "发现有人在河里偷排污水",
        "台风过后积水严重",
    ]
    to_traditional, reference = OpenCC("s2t"), OpenCC("t2s")
    for text in simplified:
        traditional = to_traditional.convert(text)
        assert to_simplified(traditional) == reference.convert(traditional)
    assert to_simplified("一目瞭然") == reference.convert("一目瞭然") == "一目了然"
