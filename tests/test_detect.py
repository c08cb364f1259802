"""kb.detect on the five real documents (expected: ../shared/policies/README.md, the curated .yaml files)
and on the variants staff files use."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kb.detect import detect

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT.parent / "shared" / "policies"

EXPECTED = {
    "jincheng-2023-39-support-policies.txt": dict(
        title="晋城市支持专业镇高质量发展若干政策", number="晋市政办〔2023〕39号", issuer="晋城市人民政府办公室",
        date="2023-10-31", valid_from="2023-10-31", valid_until="2025-12-31", region="晋城市",
        kind="support_policy"),
    "jincheng-chengqu-2024-36-implementation-plan.txt": dict(
        title="晋城市城区加力推进专业镇高质量发展实施方案", number="城政办发〔2024〕36号",
        issuer="晋城市城区人民政府办公室", date="2024-12-09", valid_from="2024-12-09", valid_until=None,
        region="晋城市城区", kind="implementation_plan"),
    "jincheng-gxj-2024-reply-TA0034.txt": dict(
        title="关于市政协八届三次会议第TA0034号提案的答复", number="市政协八届三次会议第TA0034号提案答复",
        issuer="晋城市工业和信息化局", date=None, valid_from=None, valid_until=None, region="晋城市",
        kind="status_report"),   # the reply carries no full date: staff must give it
    "xiangning-2023-30-implementation-plan.txt": dict(
        title="乡宁县促进专业镇高质量发展实施方案", number="乡政办发〔2023〕30号", issuer="乡宁县人民政府办公室",
        date="2023-06-02", valid_from="2023-06-02", valid_until=None, region="乡宁县",
        kind="implementation_plan"),
    "xinzhou-2022-82-implementation-plan.txt": dict(
        title="忻州市促进专业镇高质量发展实施方案", number="忻政办发〔2022〕82号", issuer="忻州市人民政府办公室",
        date="2022-12-22", valid_from="2022-12-22", valid_until=None, region="忻州市",
        kind="implementation_plan"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_documents(name):
    if not POLICIES.is_dir():
        pytest.skip("../shared/policies is not beside the checkout")
    got = detect((POLICIES / name).read_text(encoding="utf-8")).to_dict()
    assert got == EXPECTED[name]


def test_agrees_with_the_curated_metadata():
    """What detection finds is what the maintainers wrote by hand in kb/documents/*.yaml."""
    metas = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in (ROOT / "kb" / "documents").glob("*.yaml")]
    metas = [m for m in metas if m.get("source_file") in EXPECTED]
    if not metas:
        pytest.skip("no curated documents")
    for m in metas:
        got = detect((ROOT / "kb" / "documents" / f"{m['id']}.txt").read_text(encoding="utf-8"))
        for k in ("title", "number", "issuer", "region", "kind", "valid_until"):
            assert getattr(got, k) == m.get(k), (m["id"], k)
        if got.date:
            assert got.date == m["date"]


def test_number_variants_and_validity():
    text = ("泽州县人民政府办公室\n泽政办发[2025]12号\n泽州县人民政府办公室 关于印发《泽州县专业镇\n"
            "奖补办法》的通知\n各乡镇：现印发给你们。\n本办法自2026年1月1日起施行，有效期3年。\n"
            "泽州县人民政府办公室\n2025年12月20日\n")
    d = detect(text)
    assert d.number == "泽政办发〔2025〕12号"
    assert d.title == "泽州县专业镇奖补办法"
    assert d.issuer == "泽州县人民政府办公室"
    assert d.region == "泽州县"
    assert d.date == "2025-12-20"
    assert (d.valid_from, d.valid_until) == ("2026-01-01", "2028-12-31")
    assert d.kind == "support_policy"


def test_round_brackets_bureau_and_printed_date():
    text = ("高平市工业和信息化局\n高工信字（2024）5号\n关于做好2024年专业镇申报工作的通知\n"
            "各乡镇：请于月底前报送材料。本通知有效期至2024年12月31日。\n2024年3月5日印发\n")
    d = detect(text)
    assert d.number == "高工信字〔2024〕5号"
    assert d.issuer == "高平市工业和信息化局"
    assert d.title == "关于做好2024年专业镇申报工作的通知"
    assert d.region == "高平市"
    assert d.date == d.valid_from == "2024-03-05"
    assert d.valid_until == "2024-12-31"
    assert d.kind == "notice"


def test_nothing_to_find():
    d = detect("hello world\nno metadata here\n")
    assert (d.title, d.number, d.issuer, d.date, d.region, d.valid_until) == (None,) * 6
