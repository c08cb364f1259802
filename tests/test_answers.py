"""Golden questions → amounts, clauses, warnings; conversations; bad input. Through Assistant.answer."""
import pytest

from bot.core.types import Session

JC39 = "晋市政办〔2023〕39号"


def ask(assistant, q, session=None):
    return assistant.answer(q, session or Session(id="t"))


# every rule row with an amount, from a question to its amount
@pytest.mark.parametrize("q,total,rule", [
    ("晋城专业镇企业营收首次达到5亿元，奖励多少", 100000, "jc39-rev-general-5e"),
    ("泽州铸造企业营业收入首次突破十亿，能拿多少奖励", 200000, "jc39-rev-general-10e"),
    ("晋城铸造企业营收第一次达到二十个亿，奖多少", 300000, "jc39-rev-general-20e"),
    ("高平不锈钢企业营收首次达到500000万元有奖励吗", 500000, "jc39-rev-general-50e"),
    ("晋城涉农企业营收首次突破1亿元有奖励吗", 100000, "jc39-rev-agri-1e"),
    ("沁水蜂蜜企业营收头一回过了3个亿，奖励多少", 200000, "jc39-rev-agri-3e"),
    ("晋城涉农企业营业收入首次达到5亿元，奖励多少", 300000, "jc39-rev-agri-5e"),
    ("阳城蚕桑企业营收刚突破12亿，能拿多少奖励", 500000, "jc39-rev-agri-10e"),
    ("拿到ISO9001质量管理体系认证奖补多少", 20000, "jc39-cert-quality"),
    ("通过绿色体系认证的企业奖补多少", 20000, "jc39-cert-green"),
    ("新获得国家地理标志证明商标奖励多少", 30000, "jc39-gi-national"),
    ("列入市级地理标志保护工程的项目补助多少", 100000, "jc39-gi-project"),
    ("新入选中华老字号奖励多少", 200000, "jc39-brand-zhonghua"),
    ("入选三晋老字号有多少奖励", 100000, "jc39-brand-sanjin"),
    ("企业新入选山西精品，晋城奖励多少", 100000, "jc39-brand-sxjp"),
    ("新入选晋城老字号奖励多少", 50000, "jc39-brand-jincheng"),
    ("专业镇获评国家级文化产业示范园区奖励多少", 300000, "jc39-park-national"),
    ("专业镇获评省级文化产业示范园区奖多少", 100000, "jc39-park-provincial"),
])
def test_rule_rows_question_to_amount(assistant, q, total, rule):
    a = ask(assistant, q)
    assert a.status == "answered", a.answer
    assert a.total_yuan == total, a.answer
    assert rule in a.rule_ids
    assert any(c.number == JC39 for c in a.citations)
    assert any("2025年12月31日" in w for w in a.warnings) and a.answer.startswith("⚠️")
    assert a.answer.count("2025年12月31日到期") == 1   # the status leads the reply, said once


@pytest.mark.parametrize("q,phrase", [
    ("首次获评中国工艺美术大师有奖励吗", "一次性奖励"),
    ("企业信息化改造、5G融合应用项目怎么奖励", "软硬件投资"),
    ("主导制定国际标准有什么支持", "一事一议"),
    ("被认定为专精特新中小企业有奖励吗", "按规定给予奖励"),
    ("获评省级制造业单项冠军企业有奖励吗", "一次性奖励"),
    ("参与行业标准制修订有补助吗", "一定补助"),
])
def test_rules_without_amount_are_rows_with_null(assistant, q, phrase):
    a = ask(assistant, q)
    assert phrase in a.answer
    assert a.rewards and all(r.amount_yuan is None for r in a.rewards)
    assert a.total_yuan is None


def test_combination_sums_and_names_no_double_reward(assistant):
    a = ask(assistant, "我们协会新获得国家地理标志集体商标，会员企业又入选了晋城老字号，一共能拿多少奖励")
    assert a.total_yuan == 80000 and "8万元" in a.answer
    a = ask(assistant, "企业同时入选三晋老字号和晋城老字号，一共奖励多少")
    assert a.total_yuan == 150000 and "不重复奖补" in a.answer


def test_miss_explains_threshold(assistant):
    a = ask(assistant, "营收3亿的晋城制造企业有营收达标奖励吗")
    assert "5亿" in a.answer and "3亿元 < 5亿元" in a.answer
    assert not [r for r in a.rewards if r.amount_yuan]


def test_two_tiers_in_one_year_is_flagged_not_guessed(assistant):
    a = ask(assistant, "晋城铸造企业营收首次达到12亿，奖励多少")
    assert a.total_yuan == 200000
    assert "文件没有写明" in a.answer and "咨询" in a.answer


def test_unknown_agricultural_status_is_stated(assistant):
    a = ask(assistant, "晋城的专业镇企业营收首次达到5亿元，能拿多少奖励？")
    assert a.total_yuan == 100000 and "涉农" in a.answer


@pytest.mark.parametrize("q", ["乡宁县的葡萄酒企业营收首次达到5亿，按乡宁的政策能拿多少奖励",
                               "忻州定襄法兰企业营收首次达到10亿元，奖励多少", "原平煤机企业新入选中华老字号奖励多少"])
def test_other_regions_never_get_jincheng_money(assistant, q):
    a = ask(assistant, q)
    assert not [r for r in a.rewards if r.amount_yuan] and a.total_yuan is None
    assert "不适用" in a.answer


def test_expired_policy_warning_uses_the_clock(assistant):
    from datetime import date
    from bot.core.service import Assistant
    before = Assistant(assistant.config, assistant.kb, assistant.retriever, assistant.rules, assistant.gaz,
                       today=lambda: date(2025, 6, 1), analyzer=assistant.analyzer)
    assert before.answer("新入选中华老字号奖励多少", Session(id="x")).warnings == []
    assert ask(assistant, "新入选中华老字号奖励多少").warnings


@pytest.mark.parametrize("q,expect", [
    ("城区轻工类专业镇年产值要达到多少", ["0.5亿", "5000万"]),
    ("忻州市级专业镇对龙头企业有什么要求", ["1家", "5户"]),
    ("忻州特优农业类市级专业镇产值标准", ["2亿", "5000万"]),
])
def test_recognition_thresholds(assistant, q, expect):
    a = ask(assistant, q)
    assert a.status == "answered"
    for e in expect:
        assert e in a.answer


def test_recognition_check_per_condition(assistant):
    a = ask(assistant, "我们城区的镇制造业产值3亿，有1家龙头企业和2户配套企业，够不够申报区级专业镇？")
    assert "✅ 满足（3亿元 ≥ 2亿元）" in a.answer
    assert "❌ 不满足（2户 < 3户）" in a.answer


@pytest.mark.parametrize("q,expect", [
    ("阳城有哪些市级专业镇", ["阳城陶瓷琉璃", "阳城蚕桑"]),
    ("原平煤机专业镇2025年产值目标", ["100亿"]),
    ("城区专业镇发展领导小组组长是谁", ["范永星"]),
    ("专业镇园区里同类型小微企业项目环评可以一起审批吗", ["打捆"]),
    ("工业用地提高容积率要增收土地价款吗", ["不增收土地价款"]),
])
def test_fact_answers_quote_the_deciding_sentence(assistant, q, expect):
    a = ask(assistant, q)
    assert a.status == "answered" and a.citations
    for e in expect:
        assert e in a.answer


def test_office_and_contact(assistant):
    a = ask(assistant, "营收达标奖励找哪个部门")
    assert "市工信局" in a.answer and "0356-2218792" in a.answer


@pytest.mark.parametrize("q", ["北京住房公积金怎么提取", "推荐一部好看的电影", "明天太原天气怎么样"])
def test_not_found(assistant, q):
    a = ask(assistant, q)
    assert a.status == "not_found" and not a.rewards


def test_conversation_clarify_then_amount_then_reset(assistant):
    s = Session(id="conv")
    a = assistant.answer("我能拿多少奖励？", s)
    assert a.status == "clarify" and "县（市、区）" in a.answer and "营收" in a.answer and "涉农" in a.answer
    a = assistant.answer("晋城高平，营收首次过了5亿", s)
    assert a.status == "answered" and a.total_yuan == 100000 and "10万元" in a.answer
    a = assistant.answer("我们是涉农企业", s)
    assert a.total_yuan == 300000, a.answer
    assert assistant.describe_facts(s.facts)[0] == "所在地区：高平市"
    assistant.answer("重新开始", s)
    assert s.facts == {} and assistant.answer("我能拿多少奖励？", s).status == "clarify"


@pytest.mark.parametrize("q", ["", "   \n\t ", "营收" * 10000, "😀😀🎉", "\x00\x07\x1b[31m", "How much is the reward?"])
def test_bad_input_gets_a_clear_message(assistant, q):
    a = ask(assistant, q)
    assert a.status in ("clarify", "not_found") and len(a.answer) > 5 and not a.rewards
