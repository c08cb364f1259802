"""Facts about the enterprise read from a message: region, agricultural or not, revenue, first time,
items won (brands, certifications), town output value, counts of leading and partner firms."""
from __future__ import annotations

import re
from dataclasses import dataclass

import cn2an

from bot.core.amounts import find_amounts, format_yuan
from kb.regions import Gazetteer

AGRI_YES = ("涉农", "农业企业", "农业公司", "农业", "种植", "养殖", "农产品", "蜂蜜", "生猪", "养猪", "黑山羊", "黄梨",
            "中药材", "蚕桑", "果蔬", "红薯", "合作社", "家庭农场", "畜牧", "农副产品", "山楂", "药茶", "小麦", "葡萄种植",
            "薯米", "食用菌", "杂粮", "核桃", "连翘")
AGRI_NO = ("非涉农", "不涉农", "不是涉农", "不属于涉农", "非农", "制造", "铸造", "工业企业", "不锈钢", "新材料", "煤机",
           "法兰", "机械", "陶瓷", "琉璃", "化工", "装备", "冶炼", "锻造")
FIRST = ("首次", "第一次", "头一回", "头一次", "首度", "刚突破", "刚刚突破", "刚过", "刚刚过", "刚达到", "刚刚达到",
         "刚迈过", "首破", "今年突破", "今年首次", "新突破")
NOT_FIRST = ("连续", "已经多年", "往年", "早就", "之前就", "不是第一次", "不是首次")
REVENUE_WORDS = ("营收", "营业收入", "收入", "销售额", "营业额", "销售收入", "年销售", "年收入", "主营业务收入", "营收规模")
OUTPUT_WORDS = ("产值", "产业规模", "总产值", "年产值", "规模")
CATEGORIES = (("制造业", ("制造业", "制造", "铸造", "装备", "机械", "新材料", "不锈钢", "煤机", "法兰")),
              ("特优农业", ("特优农业", "农业", "种植", "养殖", "生猪", "蜂蜜", "黑山羊", "中药材", "黄梨")),
              ("轻工", ("轻工", "特色轻工", "工艺美术", "陶瓷", "琉璃", "食品", "酒", "潞绸", "丝绸", "紫砂")))
_COUNT = r"(\d+|[一二两三四五六七八九十]+)"


def _count(s: str) -> int:
    return int(s) if s.isdigit() else int(cn2an.cn2an(s.replace("两", "二"), "smart"))


@dataclass
class Facts:
    region: str | None = None
    outside: str | None = None
    agricultural: bool | None = None
    revenue_yuan: int | None = None
    first_time: bool | None = None
    output_yuan: int | None = None
    leading_firms: int | None = None
    partner_firms: int | None = None
    category: str | None = None
    level: str | None = None

    # facts that describe the enterprise and are kept across a conversation
    KEPT = ("region", "agricultural", "revenue_yuan", "first_time", "output_yuan", "leading_firms",
            "partner_firms", "category")

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.KEPT if getattr(self, k) is not None}

    def merged_over(self, old: dict) -> "Facts":
        """These facts, with what the conversation already knew filling the gaps."""
        f = Facts(**{**{k: v for k, v in old.items() if k in self.KEPT}, **self.as_dict()})
        f.outside, f.level = self.outside, self.level
        return f


def extract(text: str, gaz: Gazetteer) -> Facts:
    f = Facts()
    r = gaz.find_in(text)
    f.region = r.name if r else None
    f.outside = gaz.outside_place(text)
    if any(w in text for w in AGRI_NO[:5]):
        f.agricultural = False
    elif any(w in text for w in AGRI_YES):
        f.agricultural = True
    elif any(w in text for w in AGRI_NO):
        f.agricultural = False
    if any(w in text for w in NOT_FIRST):
        f.first_time = False
    elif any(w in text for w in FIRST):
        f.first_time = True
    for a in find_amounts(text):
        before = text[max(0, a.start - 12):a.start]
        after = text[a.end:a.end + 6]
        if re.match(r"(?:元)?的?(?:奖励|奖补|补贴|补助|资金|奖金)", after) or re.search(r"(奖励|补贴|补助|拿到?|获得)了?$", before):
            continue  # an award amount the owner quotes, not a fact about the firm
        is_output = any(w in before for w in OUTPUT_WORDS) and not any(w in before[-6:] for w in REVENUE_WORDS)
        if is_output:
            f.output_yuan = a.yuan
        else:
            f.revenue_yuan = a.yuan
    m = re.search(rf"{_COUNT}\s*[家户个]\s*(?:实力较强的?)?龙头", text) or re.search(rf"龙头企业\s*(?:有)?\s*{_COUNT}\s*[家户个]", text)
    if m:
        f.leading_firms = _count(m.group(1))
    m = re.search(rf"{_COUNT}\s*[家户个]\s*(?:上下游)?配套", text) or re.search(rf"配套(?:企业)?\s*(?:有)?\s*{_COUNT}\s*[家户个]", text)
    if m:
        f.partner_firms = _count(m.group(1))
    for name, words in CATEGORIES:
        if any(w in text for w in words):
            f.category = name
            break
    m = re.search(r"(区级|市级|县级|省级)", text)
    f.level = m.group(1) if m else None
    return f


def describe(facts: dict, gaz: Gazetteer | None = None) -> list[str]:
    lines = []
    if facts.get("region"):
        lines.append(f"所在地区：{facts['region']}")
    if facts.get("agricultural") is not None:
        lines.append(f"涉农企业：{'是' if facts['agricultural'] else '否'}")
    if facts.get("revenue_yuan"):
        first = "（首次达到）" if facts.get("first_time") else ""
        lines.append(f"年营收：{format_yuan(facts['revenue_yuan'])}{first}")
    if facts.get("category"):
        lines.append(f"产业类别：{facts['category']}")
    if facts.get("output_yuan"):
        lines.append(f"专业镇年产值：{format_yuan(facts['output_yuan'])}")
    if facts.get("leading_firms") is not None:
        lines.append(f"龙头企业：{facts['leading_firms']}家")
    if facts.get("partner_firms") is not None:
        lines.append(f"上下游配套企业：{facts['partner_firms']}户")
    return lines
