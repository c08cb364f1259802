"""Question understanding: amounts in owners' forms, slots (negation, corrections, history), the example
bank, and the question-type model on questions it was not trained on."""
from datetime import date

import pytest
from hypothesis import given, settings, strategies as st

from bot.nlu.amounts import find_amounts
from bot.nlu.intents import load_bank
from bot.nlu.slots import read_slots
from kb.regions import Gazetteer

TODAY = date(2026, 11, 22)
GAZ = Gazetteer.load()


def slots(text):
    return read_slots(text, GAZ, TODAY)


@pytest.mark.parametrize("text,low,high,bound", [
    ("七八个亿", 7 * 10**8, 8 * 10**8, "range"),
    ("3-4亿", 3 * 10**8, 4 * 10**8, "range"),
    ("三到五个亿", 3 * 10**8, 5 * 10**8, "range"),
    ("一个多亿", 10**8, None, "at_least"),
    ("六亿出头", 6 * 10**8, None, "at_least"),
    ("差一点到10亿", 10**9, None, "below"),
    ("五亿零三百万", 503 * 10**6, None, "exact"),
    ("二十多个亿", 20 * 10**8, None, "at_least"),
    ("12.5亿左右", 1250 * 10**6, None, "about"),
])
def test_approximate_amounts(text, low, high, bound):
    a = find_amounts(text)[0]
    assert (a.yuan, a.high, a.bound) == (low, high, bound)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=99), st.integers(min_value=0, max_value=9999))
def test_yi_and_wan_written_together(yi, wan):
    """1亿2000万 / 12亿零500万: one amount, whatever the digits."""
    text = f"营收{yi}亿{'零' if 0 < wan < 1000 else ''}{wan}万" if wan else f"营收{yi}亿"
    assert [a.yuan for a in find_amounts(text)] == [yi * 10**8 + wan * 10**4]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=60))
def test_amount_reader_never_raises(text):
    for a in find_amounts(text):
        assert 0 <= a.yuan < 10**16


def test_revenue_history_by_year():
    s = slots("俺们是阳城的，2024年营收第一次破了十个亿，去年又干到二十一亿，去年这个能奖多少")
    r = s.revenue
    assert (r.year, r.current_yuan, r.prior_max_yuan) == (2025, 21 * 10**8, 10 * 10**8)
    assert r.history == {2024: 10 * 10**8, 2025: 21 * 10**8}


def test_money_received_is_not_revenue():
    r = slots("前年营收头一回过了5亿，当时领了10万奖金，今年做到了8亿").revenue
    assert r.received_yuan == [100000] and r.current_yuan == 8 * 10**8 and r.prior_max_yuan == 5 * 10**8


def test_earlier_best_year_read_as_an_upper_bound():
    r = slots("今年营收首次过了20亿，往年最好的时候也就十七八个亿").revenue
    assert r.current_yuan == 20 * 10**8 and r.prior_max_yuan == 18 * 10**8


def test_output_value_is_not_revenue():
    s = slots("我们镇的铸造产业年产值大约3.6亿，有2家龙头企业带着7户配套企业")
    assert s.output_yuan == 36 * 10**7 and s.revenue.current_yuan is None
    assert (s.leading_firms, s.partner_firms) == (2, 7)


def test_partner_firms_include_family_farms_and_cooperatives():
    assert slots("带动了2户配套企业、1个家庭农场和1个合作社").partner_firms == 4


@pytest.mark.parametrize("text,agri", [
    ("我们其实算不上涉农企业", False), ("咱是涉农的", True), ("不是涉农企业，做机械加工", False),
    ("我们种连翘的", True),
])
def test_agricultural_with_negation(text, agri):
    assert slots(text).agricultural is agri


def test_region_correction_keeps_the_positive_place():
    s = slots("搞错了，厂子在高平，不在陵川")
    assert s.region == "高平市" and s.not_regions == ["陵川县"] and s.correction


def test_category_negated():
    assert slots("我们不是制造业，是轻工类的").categories == ["轻工"]


def test_bank_is_large_labelled_and_covers_every_type():
    bank = load_bank()
    assert len(bank) >= 500
    by_type = {}
    for e in bank:
        by_type.setdefault(e.type, []).append(e.text)
    from bot.core.handlers import HANDLERS
    assert set(by_type) <= set(HANDLERS) | {"facts_update"}
    assert all(len(v) >= 15 for v in by_type.values()), {k: len(v) for k, v in by_type.items()}


@pytest.mark.parametrize("q,expected", [
    ("我们县今年刚被认定了省级专精特新，能给多少钱", "reward"),
    ("城区想评区级专业镇，龙头企业至少要几家", "eligibility"),
    ("乡宁那个方案的发文字号是多少", "doc_meta"),
    ("这份文件过了有效期没有", "validity"),
    ("那要是不算涉农呢", "facts_update"),
    ("刚才说的出自哪个文件", "ref_source"),
    ("忻州专业镇领导小组组长是哪位", "person"),
    ("帮我查一下明天去太原的火车票", "out_of_scope"),
])
def test_question_types_for_questions_outside_the_bank(assistant, q, expected):
    assert q not in {e.text for e in load_bank()}
    frame = assistant.analyse(q)
    assert frame.type == expected, frame.ranked[:3]
