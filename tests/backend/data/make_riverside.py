"""Writes tests/backend/data/riverside/: a second city shaped unlike the demo city, for `gridbot import-city`.

滨江区 (code BJ): two streets, three communities, seven sheared (parallelogram) grids and no micro-grids,
around 120.2 E 30.2 N; five departments of its own (the demo city has fourteen) with its own responsibility
list over the shared taxonomy; staff codes of its own. Run `python -m tests.backend.data.make_riverside`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import yaml

OUT = Path(__file__).parent / "riverside"
LON0, LAT0, SHEAR = 120.20, 30.20, 0.4

DEPARTMENTS = [
    ("city_services", "城市运行服务中心", "城运", "市容、市政、公用事业、交通"),
    ("people_services", "民生服务中心", "民生", "人社、民政、教育、卫健"),
    ("safety", "平安建设办公室", "平安", "公安、应急、消防"),
    ("market_environment", "市场与环境监管局", "市监环保", "市场监管、生态环境、商旅"),
    ("neighbourhood", "社区服务站", "社区", "社区自治事项"),
]
# demo department → riverside department
DEPARTMENT_MAP = {
    "housing": "city_services",
    "environment": "market_environment",
    "transport": "city_services",
    "education_culture": "people_services",
    "labour_social_security": "people_services",
    "commerce_tourism": "market_environment",
    "health": "people_services",
    "urban_management": "city_services",
    "public_security": "safety",
    "emergency": "safety",
    "market_regulation": "market_environment",
    "utilities": "city_services",
    "civil_affairs": "people_services",
    "community": "neighbourhood",
}
# street → communities → grids, each as (code, name, x0, x1, y0, y1, [estate alias]) in local degrees
STREETS = [
    (
        "BJ01",
        "江南街道",
        0.00,
        0.04,
        [
            ("BJ0101", "江景社区", 0.00, 0.015, [("江景花园", "江景一号"), ("滨江名苑",)]),
            ("BJ0102", "柳岸社区", 0.015, 0.03, [("柳岸小区",), ("闻涛苑",), ("观澜里",)]),
        ],
    ),
    (
        "BJ02",
        "长河街道",
        0.04,
        0.07,
        [
            ("BJ0201", "长河社区", 0.00, 0.03, [("长河新村",), ("白马湖公寓",)]),
        ],
    ),
]


def ring(x0: float, x1: float, y0: float, y1: float) -> list[list[list[float]]]:
    """A rectangle in local degrees, sheared into a parallelogram on the map (closed ring)."""
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return [[[round(LON0 + x + SHEAR * y, 7), round(LAT0 + y, 7)] for x, y in corners]]


def feature(
    code: str, name: str, level: str, parent: str | None, box: tuple[float, float, float, float], **props: object
) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": {"code": code, "name": name, "level": level, "parent": parent, **props},
        "geometry": {"type": "Polygon", "coordinates": ring(*box)},
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    features = [feature("BJ", "滨江区", "district", None, (0.0, 0.07, 0.0, 0.03), staff=["BJ-SUP"])]
    staff = [
        ("BJ-SUP", "钱督办", "supervisor", "BJ"),
        ("BJ-ADM", "孙管理", "admin", ""),
    ]
    for dep, name, _short, _scope in DEPARTMENTS:
        staff.append((f"BJ-D-{dep}", f"{name}专员", "department_handler", dep))
    n = 0
    for s_code, s_name, sx0, sx1, communities in STREETS:
        features.append(feature(s_code, s_name, "street", "BJ", (sx0, sx1, 0.0, 0.03), staff=[f"BJ-SD{s_code[-1]}"]))
        staff.append((f"BJ-SD{s_code[-1]}", f"{s_name}指挥中心", "street_dispatcher", s_code))
        for c_code, c_name, cy0, cy1, grids in communities:
            cd = f"BJ-CD{c_code[-4:]}"
            features.append(feature(c_code, c_name, "community", s_code, (sx0, sx1, cy0, cy1), staff=[cd]))
            staff.append((cd, f"{c_name}调度员", "community_dispatcher", c_code))
            width = (sx1 - sx0) / len(grids)
            for i, aliases in enumerate(grids):
                n += 1
                g_code = f"{c_code}{i + 1:02d}"
                gw = f"BJ-GW{n:02d}"
                features.append(
                    feature(
                        g_code,
                        f"{c_name}第{i + 1}网格",
                        "grid",
                        c_code,
                        (sx0 + i * width, sx0 + (i + 1) * width, cy0, cy1),
                        households=300 + 40 * n,
                        staff=[gw],
                        aliases=[{"name": a, "kind": "estate"} for a in aliases],
                    )
                )
                staff.append((gw, f"网格员{n:02d}", "gridworker", g_code))
    (OUT / "city.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False, indent=1) + "\n",
        encoding="utf-8",
    )
    with (OUT / "staff.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "name", "role", "scope", "phone", "wecom_userid", "telegram_user_id"])
        for i, (code, name, role, scope) in enumerate(staff):
            writer.writerow([code, name, role, scope, f"1390000{i:04d}", f"bj_{code.lower()}", ""])
    deps = [{"code": c, "name": n, "short": s, "scope": sc} for c, n, s, sc in DEPARTMENTS]
    (OUT / "departments.yaml").write_text(
        "# 滨江区's own departments (a test city).\n" + yaml.safe_dump({"departments": deps}, allow_unicode=True),
        encoding="utf-8",
    )
    demo = yaml.safe_load((Path(__file__).parents[3] / "config" / "responsibilities.yaml").read_text("utf-8"))
    resp = {
        code: {**entry, "department": DEPARTMENT_MAP[entry["department"]]}
        for code, entry in demo["responsibilities"].items()
    }
    (OUT / "responsibilities.yaml").write_text(
        "# 滨江区's responsibility list over the shared taxonomy (a test city).\n"
        + yaml.safe_dump({"responsibilities": resp}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
