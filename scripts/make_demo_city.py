"""Generate the demo city: config/demo_city.geojson and config/staff.csv.

绿城区 is a fictional district near (113.6 E, 34.75 N). Run from the project root::

    .venv/bin/python scripts/make_demo_city.py            # writes both files, then validates them
    .venv/bin/python scripts/make_demo_city.py --no-check # writes only

The output is deterministic (a fixed seed, no clock), so re-running it gives identical files.

Layout: grids are rectangles on an 8 × 9 lattice (about 270 m × 280 m each).

- 4 streets (街道), 2 lattice columns each, all 9 rows.
- 3 communities (社区) per street, 3 rows each: 12 communities.
- 6 grids (网格) per community (2 columns × 3 rows): 72 grids.
- 6 grids are split into 3 or 4 micro-grids (微网格) of 50–300 households. Micro-grids tile their grid
  and carry building sets of the grid's estates (阳光花园 1–6号楼 in one, 7–12号楼 in the next).
- 5 special grids (专属网格) lie across ordinary grids: a school, a hospital, a market,
  a railway station and an industrial park. The station and the park span two communities,
  so their parent is the street.

Every grid carries:
- 1–3 小区 aliases (unique in the city);
- sometimes a 楼院;
- the two roads crossing it, with door-number ranges: an east-west road numbers 1-99 in
  column 0, 101-199 in column 1, …; a north-south road numbers by row;
- one landmark.

Staff (config/staff.csv):
- one gridworker per grid, except three grids that exercise the fallback to the grid leader;
- one gridworker per special grid;
- a grid leader (网格长) and a community dispatcher per community;
- a street dispatcher (街道指挥中心) per street;
- one or two department handlers per department in config/departments.yaml;
- a supervisor (督办) and an admin.
Micro-grids have no staff of their own: their grid's gridworker serves them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261122
X0, Y0 = 113.588, 34.738  # south-west corner of the district
DX, DY = 0.003, 0.0025  # one grid cell in degrees (≈ 274 m × 277 m)
COLS, ROWS = 8, 9

DISTRICT = ("LC", "绿城区")
STREETS = ["文化路街道", "人民路街道", "花园路街道", "经八路街道"]
COMMUNITIES = [
    ["丰产路社区", "黄河路社区", "纬五路社区"],
    ["经三路社区", "农业路社区", "政七街社区"],
    ["红旗路社区", "东风路社区", "南阳路社区"],
    ["北林路社区", "园田路社区", "宏达路社区"],
]
EW_ROADS = [
    "建设路",
    "中原路",
    "伏牛路",
    "桐柏路",
    "嵩山路",
    "工人路",
    "淮河路",
    "陇海路",
    "航海路",
]  # one per row
NS_ROADS = ["文明路", "友爱路", "团结路", "和平路", "永安街", "兴隆街", "长庆路", "民生路"]  # one per column
LANDMARKS = [
    "{r}菜市场",
    "{r}幼儿园",
    "{r}街心公园",
    "{r}邮政所",
    "工商银行{r}支行",
    "{r}卫生服务站",
    "{r}加油站",
    "{r}图书室",
]  # by column
ESTATE_PREFIXES = [
    "阳光",
    "锦绣",
    "金水湾",
    "翠竹",
    "幸福",
    "和谐",
    "明珠",
    "紫荆",
    "丽景",
    "春华",
    "书香",
    "御景",
    "盛世",
    "康桥",
    "绿地",
    "万家",
    "泰和",
    "兴华",
    "瑞祥",
    "福寿",
    "龙湖",
    "香山",
    "枫林",
    "银河",
    "东方",
    "华庭",
    "凤凰",
    "文博",
    "金色",
    "碧水",
    "天伦",
    "怡和",
    "永和",
    "富田",
    "名门",
    "星河",
    "玉兰",
    "海棠",
    "桂园",
    "润园",
    "丹桂",
    "青枫",
    "鑫苑",
    "正弘",
    "建业",
    "民安",
    "美景",
    "英协",
    "清华园",
    "百合",
]
ESTATE_SUFFIXES = ["花园", "苑", "小区", "家园", "公寓", "新城", "嘉园", "雅居"]
COMPOUNDS = [
    "纺织厂家属院",
    "供电局宿舍",
    "棉纺厂生活区",
    "铁路家属院",
    "水利局宿舍",
    "邮电局家属院",
    "粮食局家属院",
    "机务段家属院",
    "建工集团宿舍",
    "烟草公司家属院",
    "中医院家属院",
    "农科院家属院",
    "化肥厂家属院",
    "机械厂家属院",
    "面粉厂家属院",
    "气象局宿舍",
    "税务局家属院",
    "煤炭厅家属院",
    "交通厅宿舍",
    "电缆厂家属院",
    "印染厂家属院",
    "柴油机厂宿舍",
    "省建一公司宿舍",
    "商业局家属院",
]
CN_NUMBERS = "一二三四五六七八九十"
# Grids split into micro-grids: grid code → micro-grid layout (columns, rows).
SPLIT_GRIDS = {
    "LC010101": (2, 2),
    "LC010203": (3, 1),
    "LC020105": (2, 2),
    "LC030302": (1, 3),
    "LC040204": (2, 2),
    "LC020306": (3, 1),
}
NO_GRIDWORKER = {"LC020104", "LC030205", "LC040302"}
# Special grids in lattice units (col0, row0, col1, row1), parent, kind, name, aliases.
SPECIALS = [
    ((0.5, 1.3, 1.5, 2.0), "LC0101", "school", "第一实验小学专属网格", ["绿城区第一实验小学", "绿城一小"]),
    ((2.6, 3.5, 3.6, 4.6), "LC0202", "hospital", "区人民医院专属网格", ["绿城区人民医院", "区人民医院"]),
    (
        (4.4, 7.2, 5.8, 8.1),
        "LC0303",
        "market",
        "农产品批发市场专属网格",
        ["绿城农产品批发市场", "农产品批发市场"],
    ),
    ((6.2, 2.5, 7.8, 3.5), "LC04", "station", "火车站专属网格", ["绿城火车站", "火车站", "站前广场"]),
    (
        (2.2, 5.4, 3.8, 7.6),
        "LC02",
        "industrial_park",
        "高新产业园专属网格",
        ["绿城高新技术产业园", "高新产业园"],
    ),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
# Real given names, one or two characters, as a mixed office of different ages would have.
GIVEN = (  # noqa: SIM905 - a list literal would take seventy lines
    "建国 秀英 志强 丽华 海燕 文博 子涵 浩然 雨桐 俊杰 桂兰 建华 红梅 志国 玉珍 春燕 海波 晓东 雪梅 文斌 "
    "宇航 欣怡 佳琪 振峰 国庆 淑芬 立新 晓燕 明辉 静怡 伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 "
    "明 超 霞 平 刚 鹏 辉 婷 颖 凯 琳 昊 爽 卫东 红霞 永刚 亚楠 思远 梦瑶 嘉豪 一鸣 晨曦 慧敏 德胜 秋菊"
).split()


@dataclass
class Feature:
    """One area before serialisation."""

    code: str
    name: str
    level: str
    parent: str | None
    box: tuple[float, float, float, float]  # lattice units: col0, row0, col1, row1
    households: int = 0
    aliases: list[dict[str, str]] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)
    special_kind: str | None = None
    address_ranges: list[dict[str, Any]] = field(default_factory=list)
    buildings: list[dict[str, Any]] = field(default_factory=list)

    def to_geojson(self) -> dict[str, Any]:
        """The feature as a GeoJSON dict with a counter-clockwise rectangle."""
        c0, r0, c1, r1 = self.box
        x0, y0, x1, y1 = _lon(c0), _lat(r0), _lon(c1), _lat(r1)
        props: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "parent": self.parent,
            "households": self.households,
            "aliases": self.aliases,
            "staff": self.staff,
        }
        if self.special_kind:
            props["special_kind"] = self.special_kind
        if self.address_ranges:
            props["address_ranges"] = self.address_ranges
        if self.buildings:
            props["buildings"] = self.buildings
        ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
        return {
            "type": "Feature",
            "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        }


def _lon(col: float) -> float:
    return round(X0 + col * DX, 6)


def _lat(row: float) -> float:
    return round(Y0 + row * DY, 6)


def _estate_names(rng: random.Random) -> list[str]:
    """A shuffled list of unique estate names, none a substring of another."""
    combos = [p + s for p in ESTATE_PREFIXES for s in ESTATE_SUFFIXES]
    rng.shuffle(combos)
    chosen: list[str] = []
    used_prefixes: set[str] = set()
    for name in combos:
        prefix = next(p for p in ESTATE_PREFIXES if name.startswith(p))
        # One estate per prefix keeps names like 阳光花园 / 阳光苑 from sounding alike.
        if prefix in used_prefixes and len(used_prefixes) < len(ESTATE_PREFIXES):
            continue
        if any(name in other or other in name for other in chosen):
            continue
        used_prefixes.add(prefix)
        chosen.append(name)
    return chosen + [n for n in combos if n not in chosen and not any(n in o or o in n for o in chosen)]


def build_city(rng: random.Random) -> list[Feature]:
    """All features: district, streets, communities, grids, micro-grids, special grids."""
    estates = iter(_estate_names(rng))
    compounds = iter(COMPOUNDS)
    features = [Feature(DISTRICT[0], DISTRICT[1], "district", None, (0, 0, COLS, ROWS))]
    for s, street_name in enumerate(STREETS):
        street_code = f"LC{s + 1:02d}"
        features.append(Feature(street_code, street_name, "street", "LC", (2 * s, 0, 2 * s + 2, ROWS)))
        for k, community_name in enumerate(COMMUNITIES[s]):
            community_code = f"{street_code}{k + 1:02d}"
            features.append(
                Feature(
                    community_code,
                    community_name,
                    "community",
                    street_code,
                    (2 * s, 3 * k, 2 * s + 2, 3 * k + 3),
                )
            )
            for n in range(6):
                col, row = 2 * s + n % 2, 3 * k + n // 2
                code = f"{community_code}{n + 1:02d}"
                grid = Feature(
                    code,
                    f"{community_name}第{CN_NUMBERS[n]}网格",
                    "grid",
                    community_code,
                    (col, row, col + 1, row + 1),
                    households=rng.randint(300, 620),
                )
                n_estates = 2 if code in SPLIT_GRIDS else rng.choice((1, 2, 2, 3))
                grid.aliases = [{"name": next(estates), "kind": "estate"} for _ in range(n_estates)]
                if code not in SPLIT_GRIDS and rng.random() < 0.33:
                    grid.aliases.append({"name": next(compounds), "kind": "compound"})
                ew, ns = EW_ROADS[row], NS_ROADS[col]
                grid.aliases += [
                    {"name": ew, "kind": "road"},
                    {"name": ns, "kind": "road"},
                    {"name": LANDMARKS[col].format(r=ew), "kind": "landmark"},
                ]
                grid.address_ranges = [
                    {"road": ew, "start": col * 100 + 1, "end": col * 100 + 99},
                    {"road": ns, "start": row * 100 + 1, "end": row * 100 + 99},
                ]
                features.append(grid)
                if code in SPLIT_GRIDS:
                    features += _split(grid, *SPLIT_GRIDS[code], rng=rng)
    for i, (box, parent, kind, name, aliases) in enumerate(SPECIALS, start=1):
        features.append(
            Feature(
                f"LCZS{i:02d}",
                name,
                "special",
                parent,
                box,
                special_kind=kind,
                aliases=[{"name": a, "kind": "landmark"} for a in aliases],
            )
        )
    _sum_households(features)
    return features


def _sum_households(features: list[Feature]) -> None:
    """Communities, streets and the district count the households of their grids."""
    by_code = {f.code: f for f in features}
    for level in ("community", "street", "district"):
        for f in features:
            if f.level == level:
                child_level = {"community": "grid", "street": "community", "district": "street"}[level]
                f.households = sum(c.households for c in features if c.parent == f.code and c.level == child_level)
    assert by_code["LC"].households == sum(f.households for f in features if f.level == "grid")


def _split(grid: Feature, ncols: int, nrows: int, rng: random.Random) -> list[Feature]:
    """Micro-grids tiling a grid; the last one takes the second estate, the others share the first."""
    c0, r0, c1, r1 = grid.box
    count = ncols * nrows
    first, second = grid.aliases[0]["name"], grid.aliases[1]["name"]
    per = 6
    micro: list[Feature] = []
    remaining = grid.households
    for m in range(count):
        mc, mr = m % ncols, m // ncols
        box = (
            c0 + (c1 - c0) * mc / ncols,
            r0 + (r1 - r0) * mr / nrows,
            c0 + (c1 - c0) * (mc + 1) / ncols,
            r0 + (r1 - r0) * (mr + 1) / nrows,
        )
        last = m == count - 1
        households = (
            remaining
            if last
            else min(300, max(50, rng.randint(grid.households // count - 30, grid.households // count + 30)))
        )
        remaining -= households
        if last:
            buildings = {"estate": second, "numbers": list(range(1, per + 1))}
        else:
            buildings = {"estate": first, "numbers": list(range(m * per + 1, (m + 1) * per + 1))}
        micro.append(
            Feature(
                f"{grid.code}M{m + 1}",
                f"{grid.name}{CN_NUMBERS[m]}号微网格",
                "microgrid",
                grid.code,
                box,
                households=households,
                buildings=[buildings],
            )
        )
    assert all(50 <= f.households <= 300 for f in micro), [f.households for f in micro]
    return micro


def _person_names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names


def build_staff(features: list[Feature], departments: list[str], rng: random.Random) -> list[dict[str, Any]]:
    """Staff rows, and each feature's staff list filled in place."""
    by_code = {f.code: f for f in features}
    rows: list[dict[str, Any]] = []

    def add(code: str, role: str, scope: str, wecom: str) -> None:
        rows.append({"code": code, "role": role, "scope": scope, "wecom_userid": wecom})
        if scope in by_code:
            by_code[scope].staff.append(code)

    gw = 0
    for f in features:
        if f.level in ("grid", "special") and f.code not in NO_GRIDWORKER:
            gw += 1
            add(f"GW{gw:03d}", "gridworker", f.code, f"gw_{gw:03d}")
    communities = [f for f in features if f.level == "community"]
    for i, f in enumerate(communities, start=1):
        add(f"GL{i:02d}", "grid_leader", f.code, f"gl_{i:02d}")
        add(f"CD{i:02d}", "community_dispatcher", f.code, f"cd_{i:02d}")
    for i, f in enumerate((f for f in features if f.level == "street"), start=1):
        add(f"SD{i:02d}", "street_dispatcher", f.code, f"sd_{i:02d}")
    dh = 0
    for d, dept in enumerate(departments):
        for _ in range(2 if d % 2 == 0 else 1):
            dh += 1
            add(f"DH{dh:02d}", "department_handler", dept, f"dh_{dh:02d}")
    add("SUP01", "supervisor", "", "sup_01")
    add("ADM01", "admin", "", "admin_01")
    by_code["LC"].staff.append("SUP01")
    telegram = {"GW001", "GW002", "GW010", "GL01", "CD01", "SD01", "DH01", "SUP01", "ADM01"}
    for i, (row, name) in enumerate(zip(rows, _person_names(rng, len(rows)), strict=True), start=1):
        row["name"] = name
        row["phone"] = f"1380000{i:04d}"
        row["telegram_user_id"] = str(7000000000 + i) if row["code"] in telegram else ""
    return rows


def render(features: list[Feature]) -> str:
    """GeoJSON text with one feature per line (small diffs when the generator changes)."""
    head = '{"type": "FeatureCollection", "name": "绿城区 demo city (generated by scripts/make_demo_city.py)",\n'
    body = ",\n".join(json.dumps(f.to_geojson(), ensure_ascii=False) for f in features)
    return head + '"features": [\n' + body + "\n]}\n"


def render_staff(rows: list[dict[str, Any]]) -> str:
    """staff.csv text."""
    out = io.StringIO()
    columns = ["code", "name", "role", "scope", "phone", "wecom_userid", "telegram_user_id"]
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({c: r[c] for c in columns} for r in rows)
    return out.getvalue()


def main() -> None:
    """Write config/demo_city.geojson and config/staff.csv, then load them through the validator."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=ROOT / "config")
    parser.add_argument("--no-check", action="store_true", help="skip validation with load_city_config")
    args = parser.parse_args()
    rng = random.Random(SEED)
    departments = [
        d["code"]
        for d in yaml.safe_load((args.config_dir / "departments.yaml").read_text(encoding="utf-8"))["departments"]
    ]
    features = build_city(rng)
    staff = build_staff(features, departments, rng)
    (args.config_dir / "demo_city.geojson").write_text(render(features), encoding="utf-8")
    (args.config_dir / "staff.csv").write_text(render_staff(staff), encoding="utf-8")
    levels: dict[str, int] = {}
    for f in features:
        levels[f.level] = levels.get(f.level, 0) + 1
    print(f"wrote {len(features)} features {levels} and {len(staff)} staff to {args.config_dir}")
    if not args.no_check:
        from backend.cityconfig import load_city_config

        city = load_city_config(args.config_dir)
        print(f"validated: {len(city.areas)} areas, {len(city.staff)} staff")


if __name__ == "__main__":
    main()
