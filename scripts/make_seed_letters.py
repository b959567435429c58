"""Compose the letter- and chat-style part of the seed corpus from hand-written pieces.

Real messages to a mayor's mailbox are mostly letters: a greeting, who is writing, the background
and the place, the problem, a request (2–5 sentences). The hand-written corpus was mostly one-line
chats. This script joins pieces written for gridbot in scripts/seed_letters/*.yaml (per subcategory:
headline titles, problem descriptions, details, requests and short chats) with shared greetings, writers and
closings into config/seed_corpus/<file>_letters.csv (columns label,text, like the rest of the corpus).
Places come from the demo city or are made up. No sentence comes from any data set.

Run from the project root (deterministic: a fixed seed per subcategory, no clock)::

    .venv/bin/python scripts/make_seed_letters.py
"""

from __future__ import annotations

import argparse
import csv
import random
import zlib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
PIECES_DIR = ROOT / "scripts" / "seed_letters"
OUT_DIR = ROOT / "config" / "seed_corpus"
LETTERS_PER_LABEL = 40
LETTERS_PER_PROBLEM = 4  # fewer problems written, fewer letters: the frames alone add no new content

GREETINGS = [
    "尊敬的领导：您好！",
    "尊敬的市长：您好！",
    "领导您好：",
    "尊敬的相关部门领导：",
    "您好！",
    "各位领导好，",
    "尊敬的区领导，您好。",
    "市长您好，",
    "尊敬的书记、市长：",
    "",
    "",
]
WRITERS = [
    "我是{community}的一名居民，",
    "我是住在{road}附近的普通市民，",
    "本人是{street}辖区的居民，",
    "我是一名在绿城区工作的外地人，",
    "我家住在{estate}，",
    "我是一名退休职工，家住{compound}，",
    "我是一名普通上班族，",
    "我们是{community}的几户居民，",
    "本人姓王，住在{road}{number}号，",
    "我是一名个体户，在{road}做点小生意，",
    "",
    "",
    "",
]
# Background any letter may carry, whatever its subject: shared by all labels, so it teaches length and
# register, not a department.
BACKGROUNDS = [
    "这个问题已经存在很长时间了",
    "我们曾多次拨打12345热线反映，但问题始终没有得到解决",
    "之前也向有关单位反映过，对方互相推诿，说不归他们管",
    "周边很多群众对此意见很大",
    "具体位置在{road}{number}号附近",
    "地点就在{landmark}旁边",
    "相关照片和材料我们都已经保存",
    "希望领导能在百忙之中关注一下这个问题",
    "作为普通老百姓，我们实在是没有别的办法了，只能写信向领导求助",
    "今天再次写信，是因为情况不但没有好转，反而越来越严重",
    "网上也有不少人反映过类似的情况",
    "",
]
# Where it happens: real letters name the estate, road or community whatever the subject, so place words
# must not speak for the departments whose chats mention them most (housing, property, city appearance).
PLACES = [
    "我家住在{estate}{number}号楼",
    "事情发生在{road}{number}号附近",
    "我们{community}有三千多户居民",
    "{estate}小区有一千多户业主",
    "我们小区在{road}{number}号",
    "地址是{street}{community}",
    "我在{compound}住了二十多年",
]
JOINERS = ["另外，", "还有，", "更让人着急的是，", "而且", "同时，", "此外，"]
CLOSINGS = [
    "恳请有关部门尽快处理，谢谢！",
    "希望领导重视，给我们一个答复。",
    "盼复！",
    "望相关部门调查核实，依法处理。",
    "谢谢！",
    "麻烦领导了。",
    "期待您的回复，谢谢。",
    "",
    "",
]
TITLE_FORMS = ["{t}", "关于{t}的问题", "反映{t}", "{t}的问题", "咨询{t}", "投诉{t}"]
CHAT_PREFIXES = ["", "", "", "你好，", "请问", "我要反映，", "喂，", "网格员你好，", "求助：", "麻烦问一下，"]
CHAT_SUFFIXES = ["", "", "", "，谁管管", "！！", "，怎么办", "？", "，急", "，能不能给解决一下", "，好几天了"]
SINCE = ["近两个月来", "从去年年底开始", "今年三月以来", "半年多以来", "这一年多", "最近一段时间", "上个月起"]


def places(rnd: random.Random, city: dict[str, list[str]]) -> dict[str, str]:
    """A set of demo-city place names for one message."""
    return {
        "community": rnd.choice(city["community"]),
        "street": rnd.choice(city["street"]),
        "road": rnd.choice(city["road"]),
        "estate": rnd.choice(city["estate"]),
        "compound": rnd.choice(city["compound"]),
        "landmark": rnd.choice(city["landmark"]),
        "number": str(rnd.randint(1, 199)),
        "since": rnd.choice(SINCE),
    }


def demo_city() -> dict[str, list[str]]:
    """Names from config/demo_city.geojson by kind."""
    import json

    data = json.loads((ROOT / "config" / "demo_city.geojson").read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {k: set() for k in ("community", "street", "road", "estate", "compound", "landmark")}
    for feature in data["features"]:
        props = feature["properties"]
        if props.get("level") in ("community", "street"):
            out[props["level"]].add(props["name"])
        for alias in props.get("aliases") or []:
            if alias.get("kind") in out:
                out[alias["kind"]].add(alias["name"])
    return {k: sorted(v) for k, v in out.items()}


def fill(text: str, where: dict[str, str]) -> str:
    return text.format(**where)


def letter(rnd: random.Random, piece: dict[str, Any], city: dict[str, list[str]], name: str) -> str:
    """One letter: [title] greeting writer [place] problems [detail] [background] request closing.

    The title names the subcategory (name), so that it fits whichever problems the letter holds.
    """
    where = places(rnd, city)
    parts = [rnd.choice(GREETINGS), rnd.choice(WRITERS)]
    if rnd.random() < 0.4:
        parts.append(rnd.choice(PLACES))
    # Mostly one matter per letter, as in a real mailbox; sometimes a second or third of the same kind.
    problems = rnd.sample(piece["problems"], k=min(len(piece["problems"]), rnd.choice((1, 1, 1, 2, 2, 3))))
    parts.append(problems[0])
    parts += [rnd.choice(JOINERS) + more for more in problems[1:]]
    if piece.get("details") and rnd.random() < 0.6:
        parts.append(rnd.choice(piece["details"]))
    if rnd.random() < 0.6:
        parts.append(rnd.choice(BACKGROUNDS))
    parts.append(rnd.choice(piece["requests"]))
    parts.append(rnd.choice(CLOSINGS))
    text = fill("".join(_sentence(p) for p in parts if p), where)
    if rnd.random() < 0.5:
        text = f"{rnd.choice(TITLE_FORMS).format(t=name)} {text}"
    return text


def chat(rnd: random.Random, line: str, city: dict[str, list[str]]) -> str:
    text = fill(line, places(rnd, city))
    return f"{rnd.choice(CHAT_PREFIXES)}{text}{rnd.choice(CHAT_SUFFIXES)}"


def _sentence(part: str) -> str:
    """End a piece with punctuation unless it is a lead-in (greeting, writer) or already ends."""
    if part.endswith(("，", "。", "！", "？", "：", ",", "；")):
        return part
    return part + "。"


def compose(
    pieces: dict[str, dict[str, Any]], city: dict[str, list[str]], names: dict[str, str], source: str
) -> list[tuple[str, str]]:
    """(label, text) rows for every subcategory in pieces, deterministic per source file and label.

    Titles are short headlines of one problem: they become chats of their own.
    """
    rows: list[tuple[str, str]] = []
    for label, piece in pieces.items():
        rnd = random.Random(zlib.crc32(f"{source}:{label}".encode()))
        seen: set[str] = set()
        texts: list[str] = []
        for _ in range(LETTERS_PER_LABEL * 3):
            if len(texts) >= min(LETTERS_PER_LABEL, LETTERS_PER_PROBLEM * len(piece.get("problems", []))):
                break
            text = letter(rnd, piece, city, names[label])
            if text not in seen:
                seen.add(text)
                texts.append(text)
        for line in piece.get("headlines", []):  # a mailbox message's subject line, sent on its own
            texts.append(fill(line, places(rnd, city)))
        for line in [*piece.get("chats", []), *piece.get("titles", [])]:
            for _ in range(2 if rnd.random() < 0.4 else 1):
                text = chat(rnd, line, city)
                if text not in seen:
                    seen.add(text)
                    texts.append(text)
        rows += [(label, t) for t in texts]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=Path, default=PIECES_DIR)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    city = demo_city()
    taxonomy = yaml.safe_load((ROOT / "config" / "taxonomy.yaml").read_text(encoding="utf-8"))
    names = {sub["code"]: sub["name"] for cat in taxonomy["categories"] for sub in cat["subcategories"]}
    for path in sorted(args.pieces.glob("*.yaml")):
        pieces = yaml.safe_load(path.read_text(encoding="utf-8"))
        for label, piece in pieces.items():
            missing = [k for k in ("problems", "requests") if not piece.get(k)]
            if missing and (len(missing) == 1 or not (piece.get("chats") or piece.get("headlines"))):
                raise SystemExit(f"{path.name}: {label} lacks {', '.join(missing)}")
        unknown = sorted(set(pieces) - names.keys())
        if unknown:
            raise SystemExit(f"{path.name}: not subcategories of config/taxonomy.yaml: {', '.join(unknown)}")
        rows = compose(pieces, city, names, path.stem)
        out = args.out / f"{path.stem}_letters.csv"
        with out.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["label", "text"])
            writer.writerows(rows)
        print(f"{out.relative_to(ROOT)}: {len(rows)} rows")


if __name__ == "__main__":
    main()
