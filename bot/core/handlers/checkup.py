"""The policy check-up in conversation: "帮我看看我们能申请哪些", /checkup, the web's button.

The judged rows come from `bot.core.checkup` (pure); here they become a reply — what can be claimed with
the total, what hinges on a fact not yet told, the nearest next step, what the documents say about applying
— and a guided interview: the fact deciding the most rows is asked next (with choices for buttons), the
owner's answer updates the list. `Session.state["checkup"]` holds the interview:

    {"asking": fact | None, "asked": [facts asked], "skipped": [facts skipped], "names": [recognitions offered],
     "consent": None | "asked" | "declined"}

After a complete check-up the owner is asked whether to save the enterprise's facts for notices of new
policies; the answer, and "删除我的信息" / "退订" / "开启通知" at any time, come back as `Answer.effects`
("profile.save", "profile.delete", "profile.notify_off", "profile.notify_on") for the runtime to carry out
(the core keeps no store). `Session.state["profile"]` ({"saved": bool, "notify": bool}) is what the runtime
says is saved.
"""
from __future__ import annotations

import re

from bot.core import checkup as ck
from bot.core.compose import answer
from bot.core.handlers.base import Ctx, describe_facts
from bot.core.types import ANSWERED, CLARIFY, NOT_FOUND, Answer, Parts, Reward, Session
from bot.nlu.amounts import format_yuan
from bot.nlu.slots import lexicon

SKIP = re.compile(r"^(?:跳过|不知道|不清楚|不方便说?|不好说|说不准|下一个|不确定|没统计)[。！!]?$")
STOP = re.compile(r"^(?:不问了|不用问了|结束|先这样|就这些|不用了|算了|够了)[。！!]?$")
NONE_OF = re.compile(r"^(?:都没有|都没|没有|一个都没有|都不是|无|没|还没有|都没评上|没有评上)[。！!]?$")
YES = re.compile(r"^(?:是|是的|对|对的|嗯|是涉农企业|涉农|涉农企业|属于|属于涉农企业|算|算是)[。！!]?$")
NO = re.compile(r"^(?:不是|否|不对|非涉农|不涉农|不是涉农企业|不属于|不算|不是涉农)[。！!]?$")
CONSENT_YES = re.compile(r"^(?:保存并通知我|保存|好|好的|好啊|可以|行|同意|愿意|要|需要|嗯|是|是的|保存吧|通知我|麻烦了)[。！!]?$")
CONSENT_NO = re.compile(r"^(?:不用了|不用|不要|不保存|算了|不需要|否|不了|不必|先不用|暂时不用)[。！!]?$")
APPLYING = re.compile(r"专项资金|奖补资金|奖励资金|兑现|拨付|受理|申报程序|申请程序|申领")
REGION_CHOICES = ["城区", "泽州", "高平", "阳城", "陵川", "沁水", "忻州", "乡宁"]
CONSENT_QUESTION = "保存您的企业信息，有新政策时通知您？（只保存上面这些企业情况，可随时发送“删除我的信息”删除）"
CONSENT_CHOICES = ["保存并通知我", "不用了"]
SHOWN_POSSIBLE = 6      # hinge lines with an amount shown one by one; the rest are named together


def _clean(text: str) -> str:
    return re.sub(r"[\s，,。！!？?～~]+$", "", text.strip())


def _interview(session: Session) -> dict:
    return session.state.get("checkup") or {}


# ---- routing: is this message an answer to the interview? ------------------------------------------------
def answers_interview(frame, session: Session) -> bool:
    """Whether the message answers what the check-up asked (a choice, yes/no, a year, a figure, skip), or
    tells other facts about the enterprise while it is asking (they update the list too)."""
    st = _interview(session)
    text = _clean(frame.text)
    if st.get("consent") == "asked" and (CONSENT_YES.match(text) or CONSENT_NO.match(text)):
        return True
    return _reply_kind(frame, st) is not None


def _reply_kind(frame, st: dict) -> str | None:
    """"direct": the answer to the fact asked; "facts": other facts about the enterprise; None: neither."""
    asking = st.get("asking")
    text = _clean(frame.text)
    if not asking:
        return None
    if SKIP.match(text) or STOP.match(text):
        return "direct"
    if _direct(frame, asking, text):
        return "direct"
    s = frame.slots
    # facts about the enterprise said instead of the answer asked for: the list is updated with them
    facts = bool(s.enterprise_facts() or s.recognitions) and frame.type in ("facts_update", "checkup", "reward",
                                                                           "eligibility")
    return "facts" if facts else None


def _direct(frame, asking: str, text: str) -> bool:
    s = frame.slots
    if asking == "region" and s.region:
        return True
    if asking == "agricultural" and (YES.match(text) or NO.match(text) or s.agricultural is not None):
        return True
    if asking == "recognitions" and (NONE_OF.match(text) or s.recognitions):
        return True
    if asking.startswith("year:") and s.years and len(text) <= 16:
        return True
    if asking in ("investment", "people", "area_mu") and len(text) <= 30 and \
            (s.amounts or s.people or s.area_mu or s.investment_yuan):
        return True
    return asking == "revenue" and not s.revenue.is_empty()


def profile_command(text: str) -> str | None:
    """"删除我的信息" → "delete"; "退订" → "notify_off"; "开启通知" → "notify_on"; "我的信息" → "show"."""
    t = re.sub(r"[\s，,。！!？?～~]", "", text)
    t = re.sub(r"^(?:请|麻烦|帮我|请帮我|我要|我想)", "", t)
    lex = lexicon()
    for key, effect in (("profile_delete", "delete"), ("profile_notify_off", "notify_off"),
                        ("profile_notify_on", "notify_on"), ("profile_show", "show")):
        for w in lex.get(key, ()):
            if t == w or (t.startswith(w) and len(t) <= len(w) + 3):
                return effect
    return None


def profile_answer(kind: str, session: Session) -> Answer:
    saved = (session.state.get("profile") or {}).get("saved")
    if kind == "delete":
        session.reset()
        parts = Parts(headline="好的，已删除您的企业信息" + ("（包括保存的企业资料），之后不会再收到新政策通知。" if saved else "。") +
                      "本次对话记住的情况也已清除。")
        ans = answer(parts)
        ans.effects = ["profile.delete"]
        return ans
    if kind in ("notify_off", "notify_on"):
        if not saved:
            return answer(Parts(headline="您还没有保存企业信息，所以不会收到新政策通知。做一次政策体检后可以选择保存。",
                                suggestions=["政策体检"]))
        on = kind == "notify_on"
        session.state.setdefault("profile", {})["notify"] = on
        ans = answer(Parts(headline="好的，有适用于您的新政策时会通知您。" if on else
                           "好的，不再给您发送新政策通知；企业信息仍然保存，发送“删除我的信息”可删除。"))
        ans.effects = ["profile.notify_on" if on else "profile.notify_off"]
        return ans
    known = describe_facts(session.facts) + _recognition_lines(session.facts)[1:]
    state = session.state.get("profile") or {}
    head = "我目前了解的企业信息：" if known else "我还没有记录任何企业信息。"
    parts = Parts(headline=head, body=[f"· {x}" for x in known])
    if saved:
        parts.notes.append("这些信息已按您的同意保存" + ("，有新政策时会通知您" if state.get("notify", True) else "（通知已关闭）") +
                           "。发送“删除我的信息”可删除，发送“退订”不再接收通知。")
    else:
        parts.notes.append("这些信息只在本次对话中使用，没有保存。")
    return answer(parts)


def _recognition_lines(facts: dict) -> list[str]:
    """[the ones won (or ""), the ones not won] as lines; describe_facts already says the ones won."""
    rec = facts.get("recognitions") or {}
    no = [k for k, v in rec.items() if not v.get("won")]
    return [""] + ([f"尚未获得：{'、'.join(no)}"] if no else [])


# ---- the handler ------------------------------------------------------------------------------------------
def handle(ctx: Ctx) -> Answer:
    session = ctx.session
    st = dict(_interview(session))
    text = _clean(ctx.q)
    if st.get("consent") == "asked" and (CONSENT_YES.match(text) or CONSENT_NO.match(text)):
        return _consent(ctx, st, bool(CONSENT_YES.match(text)))
    if st.get("question") is not None and st.get("question") == ctx.q:
        pass            # the check-up asked again with the facts said since (a facts_update): the interview goes on
    elif st.get("asking") and _reply_kind(ctx.frame, st):
        if STOP.match(text):
            st["asking"] = None
            st["stopped"] = True
        elif _reply_kind(ctx.frame, st) == "direct":
            _apply(ctx, st, text)
        elif st["asking"] not in st.get("reasked", []):
            # other facts instead of the answer: the question stays open, asked once more
            st["asked"] = [f for f in st.get("asked", []) if f != st["asking"]]
            st["reasked"] = [*st.get("reasked", []), st["asking"]]
    else:
        st = {"asked": [], "skipped": [], "consent": st.get("consent"), "question": ctx.q}
    region = ctx.facts.get("region")
    if not region:
        st.update(asking="region", asked=[*st.get("asked", []), "region"])
        session.state["checkup"] = st
        return answer(Parts(headline="好的，我来帮您对照所有政策文件做个体检。先请问企业在哪个县（市、区）？",
                            choices=REGION_CHOICES), CLARIFY, asked_for=["region"])
    if not ctx.res.retriever.allowed_docs(region, ctx.today):
        session.state.pop("checkup", None)
        return answer(Parts(headline=f"知识库中还没有适用于{region}的专业镇政策文件，暂时无法做政策体检。"
                                     "目前收录：晋城市（含各县市区）、晋城市城区、忻州市、乡宁县的文件。"), NOT_FOUND)
    result = ck.checkup(ctx.facts, ctx.rules, ctx.gaz, ctx.kb, ctx.today)
    if not result.items:
        # a region whose documents set no amounts (忻州, 乡宁): say so, with what they offer instead
        from bot.core.handlers.reward import no_amounts_for
        session.state.pop("checkup", None)
        return no_amounts_for(ctx, region)
    ans = _compose(ctx, result)
    ctx.about.question = st.get("question") or ctx.q
    q = None if st.get("stopped") else next(
        (x for x in result.questions if x.fact not in st.get("asked", []) and x.fact not in st.get("skipped", [])), None)
    if q is not None:
        st.update(asking=q.fact, asked=[*st.get("asked", []), q.fact], names=q.names)
        ans.answer += "\n" + "请问：" + q.text
        ans.parts.choices = list(q.choices) + (["跳过"] if "跳过" not in q.choices and q.fact != "recognitions" else []) \
            + ["不问了"]
        ans.asked_for = [q.fact]
    else:
        st["asking"] = None
        profile = session.state.get("profile") or {}
        if not profile.get("saved") and st.get("consent") is None and result.items:
            st["consent"] = "asked"
            ans.answer += "\n" + CONSENT_QUESTION
            ans.parts.choices = list(CONSENT_CHOICES)
        elif profile.get("saved"):
            ans.answer += "\n（您的企业信息已保存，这次说的新情况也已更新；有新政策时会通知您。）"
    session.state["checkup"] = st
    return ans


def _consent(ctx: Ctx, st: dict, yes: bool) -> Answer:
    st["consent"] = "saved" if yes else "declined"
    ctx.session.state["checkup"] = st
    if not yes:
        return answer(Parts(headline="好的，不保存。本次对话结束后这些信息会自动清除。"))
    known = describe_facts(ctx.facts, compact=True)
    ctx.session.state["profile"] = {"saved": True, "notify": True}
    ans = answer(Parts(headline="好的，已保存您的企业信息" + (f"（{'，'.join(known)}）" if known else "") + "。",
                       body=["有适用于您的新政策时，我会在这里通知您；之后告诉我的新情况也会一并更新。"],
                       notes=["发送“我的信息”查看，“删除我的信息”删除，“退订”不再接收通知。信息超过保存期限未更新会自动删除。"]))
    ans.effects = ["profile.save"]
    return ans


def _apply(ctx: Ctx, st: dict, text: str) -> None:
    """The answer to the fact asked, into the facts (slots said in it are already merged)."""
    asking = st.get("asking")
    facts, s = ctx.facts, ctx.frame.slots
    if SKIP.match(text):
        st["skipped"] = [*st.get("skipped", []), asking]
        return
    if asking == "agricultural" and s.agricultural is None:
        if YES.match(text) or NO.match(text):
            facts["agricultural"] = bool(YES.match(text))
            facts.pop("agricultural_inferred", None)
    elif asking == "recognitions" and NONE_OF.match(text):
        rec = dict(facts.get("recognitions") or {})
        for name in st.get("names", []):
            rec.setdefault(name, {"won": False})
        facts["recognitions"] = rec
    elif asking.startswith("year:") and s.years:
        what, year = asking[5:], s.years[0] if "更早" in text or "以前" in text else s.years[-1]
        if what == "revenue":
            rev = dict(facts.get("revenue") or {})
            if rev:
                rev["year"] = year
                facts["revenue"] = rev
        else:
            rec = dict(facts.get("recognitions") or {})
            rec[what] = {**rec.get(what, {"won": True}), "year": year}
            facts["recognitions"] = rec
    elif asking in ("investment", "people", "area_mu"):
        key = {"investment": "investment_yuan"}.get(asking, asking)
        if facts.get(key) is None or key == "investment_yuan":
            value = s.investment_yuan if asking == "investment" else getattr(s, key)
            if value is None and asking == "investment" and s.amounts:
                value = s.amounts[0].yuan
                # a bare figure answering "投资额是多少" is that, not revenue
                if "revenue" in ctx.session.facts:
                    facts["revenue"] = ctx.session.facts["revenue"]
                else:
                    facts.pop("revenue", None)
            if value is not None:
                facts[key] = value


# ---- the reply ------------------------------------------------------------------------------------------
MARK = {ck.MET: "✅", ck.UNMET: "❌", ck.UNKNOWN: "❓"}


def _compose(ctx: Ctx, r: ck.Checkup) -> Answer:
    parts = Parts()
    eligible, possible, out = (r.by_verdict(v) for v in (ck.ELIGIBLE, ck.POSSIBLE, ck.NOT_ELIGIBLE))
    counted = [i for i in eligible if i.counted]
    total = r.total_yuan
    rows = sum(len(i.rule_ids) for i in r.items)
    docs = len(r.doc_ids)
    known = describe_facts(ctx.facts, compact=True)
    who = f"按您说的情况（{'，'.join(known)}）" if known else "按目前知道的情况"
    if counted:
        sums = "＋".join(format_yuan(i.amount_yuan) for i in counted)
        parts.headline = (f"{who}，对照{docs}份文件的{rows}条奖补规定：可以申请{len(eligible)}项，"
                          f"合计{format_yuan(total)}" + (f"（{sums}）" if len(counted) > 1 else "") + "。")
    elif eligible:
        parts.headline = f"{who}，对照{docs}份文件的{rows}条奖补规定：符合{len(eligible)}项，但文件没有规定具体金额。"
    else:
        parts.headline = f"{who}，对照{docs}份文件的{rows}条奖补规定，暂时没有确定能申请的项目；下面是取决于您情况的项目。"
    if eligible:
        parts.body.append("✅ 可以申请：")
        parts.body += [_line(ctx, i) for i in eligible]
        for i in eligible:
            parts.conditions.append(f"{i.title}：" + "；".join(f"{MARK[c.status]}{c.text}" for c in i.conditions[1:]))
    money = [i for i in possible if i.stake_yuan or i.amount_yuan]
    if money:
        parts.body.append("❓ 取决于您还没告诉我的情况：")
        parts.body += [_hinge(i) for i in money[:SHOWN_POSSIBLE]]
        if len(money) > SHOWN_POSSIBLE:
            parts.body.append("· 另有：" + "、".join(_name(i) for i in money[SHOWN_POSSIBLE:]) + "。")
    vague = [i for i in possible if not (i.stake_yuan or i.amount_yuan)]
    if vague:
        parts.body.append(f"📄 文件支持但未规定金额的{len(vague)}项（做到了可以咨询）：" + "、".join(_brief(i) for i in vague[:8]) +
                          ("等" if len(vague) > 8 else "") + "。")
    missed = [i for i in out if i.amount_yuan or i.stake_yuan]
    if missed:
        parts.body.append("❌ 按您说的情况不符合：" + "；".join(f"{_name(i)}（{_why_not(i)}）" for i in missed[:4]) + "。")
    if r.next_steps:
        parts.body.append("➡️ 下一步：" + r.next_steps[0])
    if r.supports:
        parts.body.append("🏗 其他支持（无具体金额）：" + "；".join(t if len(t) <= 60 else t[:58] + "…"
                                                              for t, _ in r.supports[:2]) + "。")
    cited = [i.clause_id for i in eligible + money[:SHOWN_POSSIBLE]]
    applying = _applying(ctx, r)
    parts.notes.append(applying)
    nd = next((t for t in ctx.rules.policy_terms if t.kind == "no_double_reward" and t.source.doc in r.doc_ids), None)
    if nd and len(counted) > 1:
        parts.notes.append(f"注意：{nd.text}。")
    if ctx.facts.get("agricultural_inferred"):
        parts.notes.append("是否涉农是按您说的行业推断的，如不对请告诉我。")
    phones = list(dict.fromkeys(i.phone for i in eligible + money if i.phone))
    offices = list(dict.fromkeys(i.office for i in eligible + money[:SHOWN_POSSIBLE] if i.office))
    parts.offices = ("责任单位（牵头）：" + "、".join(offices) + "。" if offices else "") + \
        ("咨询电话：" + "；".join(phones) + "。" if phones else "文件没有给出这些项目的咨询电话。")
    parts.source = ctx.source_line(cited or [i.clause_id for i in r.items[:3]])
    status, warnings = ctx.status(cited or [i.clause_id for i in r.items[:3]])
    parts.status = status
    if status and any(i.expired for i in counted):
        parts.notes.append("已到期的政策按您达到的年份判断：在有效期内达到的仍计入；现在能否申领、是否延续，请向责任单位确认。")
    parts.suggestions = ["依据是哪个文件？", "这个找谁办？", "怎么申请？"]
    rewards = [Reward(i.title, i.amount_yuan, _basis(ctx, i.clause_id), i.rule_ids[0]) for i in eligible]
    cites = ctx.citations(cited)
    ctx.about = ctx.subject(cited, [rid for i in eligible for rid in i.rule_ids],
                            [s for c in cited[:4] for s in ctx.res.evidence.sentences(c)[:1]], r.region)
    ctx.about.type = "checkup"   # a correction later re-runs the check-up, whatever the last message looked like
    return answer(parts, ANSWERED, cites, rewards, total, warnings,
                  rule_ids=[rid for i in eligible for rid in i.rule_ids])


def _name(i: ck.Item) -> str:
    return re.sub(r"^(?:新|首次|对)", "", i.title)


def _brief(i: ck.Item) -> str:
    return i.label or _name(i)


def _line(ctx: Ctx, i: ck.Item) -> str:
    who = f"；责任单位：{i.office}" + (f"，电话{i.phone.split(' ')[-1]}" if i.phone else "") if i.office else ""
    notes = "".join(i.notes[:1])
    return f"· {i.title}：{i.amount_text}（{_ref(ctx, i)}；{i.validity}{who}）。{notes}"


def _hinge(i: ck.Item) -> str:
    amount = format_yuan(i.amount_yuan) if i.amount_yuan else None
    facts = i.facts_needed()
    old = f"（原政策，{i.validity}）" if i.expired else ""
    if "revenue" in facts and i.key.startswith("revenue:"):
        return f"· 营收达标奖励：{i.amount_text}（告诉我营收就能算）{old}。"
    if "agricultural" in facts:
        return f"· 如属于涉农企业：{i.title}，{i.amount_text}{old}。"
    year = next((c for c in i.unknown() if c.fact and c.fact.startswith("year:")), None)
    if year is not None:
        return f"· 如{_name(i)}是在政策有效期内（{year.text.split('（')[-1].rstrip('）')}）取得的，可得{amount or i.amount_text}{old}。"
    if "recognitions" in facts:
        return f"· 如已{_name(i)}，另可得{amount or i.amount_text}{old}。"
    need = "、".join(c.text for c in i.unknown())
    got = f"可得{amount}" if amount else i.amount_text
    return f"· {_name(i)}：{got}（还要看：{need}）{old}。"


def _why_not(i: ck.Item) -> str:
    c = next(c for c in i.conditions if c.status == ck.UNMET)
    worth = f"，{i.amount_text}" if i.amount_text else ""
    return c.text + worth


def _ref(ctx: Ctx, i: ck.Item) -> str:
    c = ctx.kb.clauses.get(i.clause_id)
    d = ctx.kb.documents.get(i.doc_id)
    head = c.heading_path[-1] if c and c.heading_path else ""
    return f"{d.number if d else i.doc_id} {head}".strip()


def _basis(ctx: Ctx, clause_id: str) -> str:
    c = ctx.kb.clauses[clause_id]
    return f"{ctx.kb.documents[c.doc_id].number} {c.heading}"


def _applying(ctx: Ctx, r: ck.Checkup) -> str:
    """What the documents say about applying, and plainly what they don't."""
    said = []
    for doc_id in r.doc_ids:
        for cid, c in ctx.kb.clauses.items():
            if c.doc_id != doc_id:
                continue
            for s in ctx.res.evidence.sentences(cid):
                if APPLYING.search(s) and s not in said:
                    said.append(s)
    head = "申请：文件没有写明申请流程、所需材料、截止时间和资金到账时间，以主管部门发布的申报通知为准，建议先电话咨询责任单位。"
    return head + (f"文件中相关的表述：“{said[0]}”" if said else "")
