"""Rule proposals from amount sentences (kb.propose) and reading money figures (kb.figures)."""
from __future__ import annotations

import pytest

from kb.figures import money, normalize, rates
from kb.propose import is_amount_sentence, propose_sentence, sentences, triggers_for

CTX = {"doc": "t-1", "clause": "t-1/1-1", "heading": "一、支持 › （一）测试", "region": "泽州县",
       "valid_from": "2025-07-01", "valid_until": "2027-12-31", "fallback_item": "测试"}


def one(sentence: str) -> dict:
    ps = propose_sentence(sentence, CTX)
    assert len(ps) == 1, [p.to_dict() for p in ps]
    return ps[0].to_dict()


@pytest.mark.parametrize("text,values", [
    ("一次性奖励 15 万元", [150000]),
    ("营收达到１０亿元", [1_000_000_000]),
    ("奖励十五万元", [150000]),
    ("给予50—200万元支持", [500_000, 2_000_000]),
    ("给予10万元—100万元资金支持", [100_000, 1_000_000]),
    ("分别奖励5、10、20万元", [50_000, 100_000, 200_000]),
    ("每人每月3000元", [3000]),
    ("100元/亩", [100]),
    ("补贴上限为每年\n200 万元", [2_000_000]),
    ("1千万以上", []),                      # no 元: not money
])
def test_money_figures(text, values):
    assert [f.value for f in money(normalize(text))] == values


def test_rates():
    assert [(r.value, r.role) for r in rates(normalize("按5%—20%给予奖励"))] == [(0.05, "low"), (0.2, "high")]
    assert [r.value for r in rates("参照其贡献的70%、80%和90%")] == [0.7, 0.8, 0.9]
    assert [r.value for r in rates("百分之三十")] == [0.3]


def test_sentences_split_at_full_stops_and_semicolons():
    assert sentences("对甲给予10万元；对乙给予5万元。本办法自印发之日起施行。") == \
        ["对甲给予10万元；", "对乙给予5万元。", "本办法自印发之日起施行。"]
    assert is_amount_sentence("对乙给予5万元。")
    assert is_amount_sentence("按规定给予奖励。") and is_amount_sentence("实行“一事一议”。")
    assert not is_amount_sentence("本办法自印发之日起施行。")


def test_fixed_with_item_conditions_and_triggers():
    p = one("（一）对首次获评省级专精特新中小企业的铸造企业，一次性奖励 15 万元。")
    assert p["kind"] == "fixed" and p["amount_yuan"] == 150000
    assert p["item"] == "首次获评省级专精特新中小企业的铸造企业"
    assert p["conditions"] == ["首次获评省级专精特新中小企业", "铸造企业"]
    assert "专精特新中小企业" in p["triggers"]
    assert p["wording"] == "一次性奖励15万元"
    assert not p["sentence"].startswith("（一）")
    assert (p["region"], p["valid_from"], p["valid_until"]) == ("泽州县", "2025-07-01", "2027-12-31")


def test_tiers():
    p = one("对年营收首次达到5亿元、10亿元、20亿元的企业，分别一次性奖励10万元、20万元、30万元。")
    assert p["kind"] == "tiered"
    assert p["tiers"] == [{"threshold_yuan": 500_000_000, "amount_yuan": 100_000},
                          {"threshold_yuan": 1_000_000_000, "amount_yuan": 200_000},
                          {"threshold_yuan": 2_000_000_000, "amount_yuan": 300_000}]


def test_tiers_of_rates_over_brackets():
    p = one("对特色农业类项目，固定资产投资1000万元及以上至5000万元、5000万元以上至1亿元、1亿元以上的，"
            "参照其年度地方财政贡献的70%、80%和90%给予企业奖励。")
    assert p["kind"] == "tiered"
    assert [(t["threshold_yuan"], t["rate"]) for t in p["tiers"]] == \
        [(10_000_000, 0.7), (50_000_000, 0.8), (100_000_000, 0.9)]


def test_ratio_with_cap_and_a_threshold():
    p = one("对其实际完成投资1000万元及以上的，省级按项目设备购置额的10%给予奖补，单个企业最高500万元。")
    assert (p["kind"], p["rate"], p["base"], p["cap_yuan"]) == ("ratio", 0.1, "项目设备购置额", 5_000_000)
    assert p["thresholds"] == [{"what": "实际完成投资", "threshold_yuan": 10_000_000}]


@pytest.mark.parametrize("sentence,amount,unit", [
    ("基地入驻企业实习的高校在读港澳青年，给予每人每月3000元实习补贴，补贴期限不超过6个月。", 3000, "人·月"),
    ("对新建面积在500亩以上的，给予企业200元/亩奖励。", 200, "亩"),
    ("每认定1家给予孵化器10万元扶持。", 100_000, "家"),
])
def test_per_unit(sentence, amount, unit):
    p = one(sentence)
    assert (p["kind"], p["amount_yuan"], p["unit"]) == ("per_unit", amount, unit)


def test_ranges():
    p = one("固定资产投资1000万元及以上的，按固定资产投资的5%—20%给予企业奖励。")
    assert (p["kind"], p["rate_min"], p["rate_max"], p["base"]) == ("range", 0.05, 0.2, "固定资产投资")
    p = one("新产品投产达效后，给予企业10万元—100万元资金支持。")
    assert (p["kind"], p["min_yuan"], p["max_yuan"]) == ("range", 100_000, 1_000_000)
    p = one("对新认定的国家级孵化器给予每家最高500万元扶持。")
    assert (p["kind"], p["max_yuan"]) == ("range", 5_000_000) and "min_yuan" not in p


def test_amounts_over_years():
    p = one("对新增规模以上服务业企业，给予企业10万元奖励(第一年奖励5万元，第二年奖励3万元，第三年奖励2万元)。")
    assert p["kind"] == "multi_year" and p["amount_yuan"] == 100_000
    assert p["schedule"] == [{"year": 1, "amount_yuan": 50_000}, {"year": 2, "amount_yuan": 30_000},
                             {"year": 3, "amount_yuan": 20_000}]
    p = one("对新建项目，前2年给予企业地方财政贡献80%的奖励，后3年给予企业地方财政贡献50%的奖励，每年最高奖励不超过5000万元。")
    assert p["kind"] == "multi_year" and p["cap_yuan"] == 50_000_000
    assert [(y["year"], y["rate"]) for y in p["schedule"]] == [(1, .8), (2, .8), (3, .5), (4, .5), (5, .5)]


@pytest.mark.parametrize("sentence", ["对认定的企业按规定给予奖励。", "对重大项目实行“一事一议”。"])
def test_support_without_a_figure(sentence):
    assert one(sentence)["kind"] == "unquantified"


def test_fund_sizes_targets_and_statistics_are_not_rewards_but_their_figures_are_read():
    p = one("设立总规模不低于1亿元的重点产业发展引导资金，列入县财政预算。")
    assert (p["kind"], p["reason"], p["figures_yuan"]) == ("not_a_reward", "fund", [100_000_000])
    p = one("到2025年底，专业镇入驻企业70户以上，产值突破10亿元。")
    assert p["kind"] == "not_a_reward" and p["figures_yuan"] == [1_000_000_000]


def test_one_sentence_several_offers():
    ps = [p.to_dict() for p in propose_sentence(
        "对评定为国家级、省级、市级孵化载体的，分别给予每家80万元、30万元、20万元一次性支持。", CTX)]
    assert [(p["kind"], p["amount_yuan"]) for p in ps] == [("fixed", 800_000), ("fixed", 300_000), ("fixed", 200_000)]
    assert [p["item"] for p in ps] == ["国家级孵化载体", "省级孵化载体", "市级孵化载体"]
    ps = [p.to_dict() for p in propose_sentence("被评为五星级的给予10万元，四星级的给予5万元。", CTX)]
    assert [(p["item"], p["amount_yuan"]) for p in ps] == [("被评为五星级", 100_000), ("四星级", 50_000)]
    ps = [p.to_dict() for p in propose_sentence("给予特等奖150万元、一等奖50万元奖励。", CTX)]
    assert [p["amount_yuan"] for p in ps] == [1_500_000, 500_000]
    assert [p["item"][-5:] for p in ps] == ["（特等奖）", "（一等奖）"]


def test_triggers():
    assert triggers_for("新入选“中华老字号”的企业") == ["中华老字号"]
    assert "地理标志" in triggers_for("获得国家地理标志的企业")
