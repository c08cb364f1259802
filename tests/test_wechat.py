"""The WeChat Official Account endpoint through the real HTTP server on 127.0.0.1, with requests
signed and encrypted by wechatpy's own helpers."""
from __future__ import annotations

import base64
import itertools
import secrets
import sqlite3
import threading
import time

import pytest
import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.adapters import wechat
from bot.adapters.server import create_app
from tests.fakes.wechat_fakes import CLAUSE, FakeAssistant, FakeCustomerService, make_config, make_runtime

TOKEN = "pz-test-token"
APP_ID = "wx0123456789abcdef"
AES_KEY = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode().rstrip("=")   # 43 chars
OPENID = "oUser_openid_1"


@pytest.fixture(autouse=True)
def _loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost,::1")


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


_nonces = itertools.count(1)


def signed_query(token: str = TOKEN, *, timestamp: int | None = None, nonce: str | None = None, **extra) -> dict:
    """A query string signed as WeChat signs it: a fresh timestamp and a new nonce unless given."""
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or f"{next(_nonces)}{secrets.randbelow(10**9)}"
    return {"signature": signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, **extra}


def safe_request(crypto, xml: str, *, timestamp: int | None = None, nonce: str | None = None) -> tuple[str, dict]:
    """(encrypted envelope, query) for safe mode, signed and sealed with wechatpy's own helpers."""
    query = signed_query(timestamp=timestamp, nonce=nonce, encrypt_type="aes")
    envelope = crypto.encrypt_message(xml, query["nonce"], query["timestamp"])
    query["msg_signature"] = reply_of(envelope)["MsgSignature"]
    return envelope, query


def text_xml(content: str, msg_id: int, openid: str = OPENID) -> str:
    return (f"<xml><ToUserName><![CDATA[gh_pz]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def text_xml_at(content: str, msg_id: int, create_time: int, openid: str = OPENID) -> str:
    """A text message with a fixed CreateTime (a retry repeats the body byte for byte)."""
    return (f"<xml><ToUserName><![CDATA[gh_pz]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>")


def other_xml(msg_type: str, inner: str, openid: str = OPENID, msg_id: int | None = 99) -> str:
    mid = f"<MsgId>{msg_id}</MsgId>" if msg_id else ""
    return (f"<xml><ToUserName><![CDATA[gh_pz]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{inner}{mid}</xml>")


def reply_of(body: str) -> dict:
    return xmltodict.parse(body)["xml"]


class Harness:
    def __init__(self, tmp_path, *, gate=None, cs=None, aes=False, timeout=4.0, public_url=None, assistant=None):
        self.assistant = assistant or FakeAssistant(gate)
        self.config = make_config(tmp_path, wechat_token=TOKEN, wechat_app_id=APP_ID,
                                  wechat_aes_key=AES_KEY if aes else None)
        self.runtime = make_runtime(self.config, self.assistant)
        self.cs = cs
        self.app = create_app(self.runtime, self.config, wechat_client=cs, wechat_passive_timeout=timeout,
                              public_url=public_url)
        self.crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)

    async def __aenter__(self):
        self.client = TestClient(TestServer(self.app, host="127.0.0.1"))
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc):
        if getattr(self.assistant, "gate", None) is not None:
            self.assistant.gate.set()
        await self.client.close()
        self.runtime.close()

    async def post(self, xml: str, query: dict | None = None):
        resp = await self.client.post("/wechat", params=query or signed_query(), data=xml.encode("utf-8"))
        return resp.status, await resp.text()

    async def ask_with(self, query: dict, content: str, msg_id: int, openid: str = OPENID) -> str:
        self.sent_at = int(time.time())
        status, body = await self.post(text_xml_at(content, msg_id, self.sent_at, openid), query)
        assert status == 200, body
        return body

    async def ask(self, content: str, msg_id: int, openid: str = OPENID) -> str:
        status, body = await self.post(text_xml(content, msg_id, openid))
        assert status == 200, body
        return body

    def logged(self) -> int:
        with sqlite3.connect(self.config.log_db) as db:
            return db.execute("SELECT count(*) FROM questions").fetchone()[0]


async def test_server_verification_echoes_echostr(tmp_path):
    async with Harness(tmp_path) as h:
        resp = await h.client.get("/wechat", params=signed_query(echostr="8841234567"))
        assert resp.status == 200 and await resp.text() == "8841234567"
        resp = await h.client.get("/wechat", params=signed_query(token="not-the-token", echostr="8841234567"))
        assert resp.status == 403
        assert "8841234567" not in await resp.text()


async def test_plain_text_question_gets_the_answer_as_passive_reply(tmp_path):
    async with Harness(tmp_path) as h:
        body = await h.ask("晋城高平的企业营收首次过了5亿，能拿多少奖励？", 1001)
        reply = reply_of(body)
        assert reply["MsgType"] == "text"
        assert reply["ToUserName"] == OPENID and reply["FromUserName"] == "gh_pz"
        assert "10万元" in reply["Content"]
        assert h.assistant.questions == ["晋城高平的企业营收首次过了5亿，能拿多少奖励？"]


async def test_bad_signature_is_refused_and_not_processed(tmp_path):
    async with Harness(tmp_path) as h:
        bad = signed_query(token="wrong-token")
        status, _ = await h.post(text_xml("能拿多少奖励？", 1002), bad)
        assert status == 403
        missing = {k: v for k, v in signed_query().items() if k != "signature"}
        status, _ = await h.post(text_xml("能拿多少奖励？", 1003), missing)
        assert status == 403
        assert h.assistant.calls == 0 and h.logged() == 0


async def test_encrypted_message_in_safe_mode(tmp_path):
    async with Harness(tmp_path, aes=True) as h:
        envelope, query = safe_request(h.crypto, text_xml("新入选中华老字号奖励多少", 2001))
        status, body = await h.post(envelope, query)
        assert status == 200
        sealed = reply_of(body)
        assert "Encrypt" in sealed and "Content" not in sealed          # the reply is encrypted too
        plain = h.crypto.decrypt_message(body, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"])
        reply = reply_of(plain)
        assert reply["ToUserName"] == OPENID and "20万元" in reply["Content"]

        # the right token but a tampered envelope signature: refused before anything is answered
        envelope2, query2 = safe_request(h.crypto, text_xml("新入选中华老字号奖励多少", 2002))
        status, _ = await h.post(envelope2, dict(query2, msg_signature="0" * 40))
        assert status == 403
        assert h.assistant.calls == 1


# ---------------------------------------------------------------------------------------------
# Replays: plain mode signs token + timestamp + nonce, not the body

@pytest.mark.parametrize("age", [301, 3600, 86400, -301])
async def test_replay_with_an_old_timestamp_is_refused_in_plain_mode(tmp_path, age):
    async with Harness(tmp_path) as h:
        old = signed_query(timestamp=int(time.time()) - age)
        status, _ = await h.post(text_xml("涉农企业营收3亿，奖励多少", 8001), old)
        assert status == 403
        resp = await h.client.get("/wechat", params=dict(old, echostr="123"))
        assert resp.status == 403
        assert h.assistant.calls == 0 and h.logged() == 0
        fresh = signed_query(timestamp=int(time.time()) - 250)          # inside the window: fine
        status, _ = await h.post(text_xml("新入选中华老字号奖励多少", 8002), fresh)
        assert status == 200 and h.assistant.calls == 1


async def test_replay_with_a_used_nonce_and_another_body_is_refused_in_plain_mode(tmp_path):
    async with Harness(tmp_path) as h:
        captured = signed_query()
        first = reply_of(await h.ask_with(captured, "晋城高平的企业营收首次过了5亿，能拿多少奖励？", 8101))["Content"]
        assert "10万元" in first
        # the attack of issue 11: the captured query string with another body and another FromUserName
        status, _ = await h.post(text_xml("奖励多少", 8102, openid="oVictim_openid"), captured)
        assert status == 403
        status, _ = await h.post(text_xml("结果", 8103), captured)
        assert status == 403
        # WeChat's own retry (same query, same body) gets the same reply and is not answered twice
        status, retry = await h.post(text_xml_at("晋城高平的企业营收首次过了5亿，能拿多少奖励？", 8101, h.sent_at), captured)
        assert status == 200 and reply_of(retry)["Content"] == first
        assert h.assistant.calls == 1 and h.logged() == 1


async def test_replays_are_refused_in_safe_mode(tmp_path):
    async with Harness(tmp_path, aes=True) as h:
        old_envelope, old_query = safe_request(h.crypto, text_xml("新入选中华老字号奖励多少", 8201),
                                               timestamp=int(time.time()) - 3600)
        status, _ = await h.post(old_envelope, old_query)
        assert status == 403                              # correctly sealed, but an hour old
        envelope, query = safe_request(h.crypto, text_xml("新入选中华老字号奖励多少", 8202))
        status, body = await h.post(envelope, query)
        assert status == 200
        # another message sealed under the same (captured) timestamp and nonce
        other = h.crypto.encrypt_message(text_xml("奖励多少", 8203, openid="oVictim_openid"),
                                         query["nonce"], query["timestamp"])
        status, _ = await h.post(other, dict(query, msg_signature=reply_of(other)["MsgSignature"]))
        assert status == 403
        # the same request again (WeChat's retry): same sealed reply content, answered once
        status, again = await h.post(envelope, query)
        assert status == 200
        contents = [reply_of(h.crypto.decrypt_message(b, reply_of(b)["MsgSignature"], reply_of(b)["TimeStamp"],
                                                      reply_of(b)["Nonce"]))["Content"] for b in (body, again)]
        assert contents[0] == contents[1] and "20万元" in contents[0]
        assert h.assistant.calls == 1 and h.logged() == 1


async def test_reset_and_result_words_are_handled_once_per_message(tmp_path):
    gate = threading.Event()
    async with Harness(tmp_path, gate=gate, cs=None, timeout=0.3) as h:
        assert reply_of(await h.ask("新入选中华老字号奖励多少", 8301))["Content"] == wechat.WORKING_PULL
        gate.set()
        await h.app[wechat_key()].drain()
        query = signed_query()
        status, got = await h.post(text_xml_at("结果", 8302, 1), query)
        assert "20万元" in reply_of(got)["Content"]
        status, again = await h.post(text_xml_at("结果", 8302, 1), query)    # the retry: same reply
        assert status == 200 and reply_of(again)["Content"] == reply_of(got)["Content"]


# ---------------------------------------------------------------------------------------------
# Signed but malformed: 400, never a 500

@pytest.mark.parametrize("xml", [
    "<xml><ToUserName>gh_pz</ToUserName><FromUserName>oUser_openid_1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content><b>x</b></Content><MsgId>1</MsgId></xml>",
    "<xml><ToUserName>gh_pz</ToUserName><FromUserName><a>1</a></FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>奖励多少</Content><MsgId>2</MsgId></xml>",
    "<xml><ToUserName>gh_pz</ToUserName><FromUserName>oUser_openid_1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>text</MsgType><Content>奖励多少</Content><MsgId>abc</MsgId></xml>",
    "<xml><MsgType><a/></MsgType></xml>",
    "<xml><ToUserName>gh_pz</ToUserName><FromUserName>oUser_openid_1</FromUserName><CreateTime>x</CreateTime>"
    "<MsgType>text</MsgType><Content>奖励多少</Content></xml>",
    "<xml><ToUserName>gh_pz</ToUserName><FromUserName>oUser_openid_1</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>event</MsgType><Event><x/></Event></xml>",
    "<xml><ToUserName>gh_pz</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>voice</MsgType><Recognition><r>1</r></Recognition><MsgId>3</MsgId></xml>",
    '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    "<xml><Content>&d;&d;&d;&d;&d;&d;&d;&d;</Content></xml>",
    "not xml at all",
    "",
    "<xml>",
])
async def test_signed_but_malformed_messages_get_400(tmp_path, xml):
    async with Harness(tmp_path) as h:
        status, body = await h.post(xml)
        assert status == 400 and "Traceback" not in body
        assert h.assistant.calls == 0 and h.logged() == 0


async def test_follow_up_keeps_facts_per_openid(tmp_path):
    async with Harness(tmp_path) as h:
        first = reply_of(await h.ask("我能拿多少奖励？", 3001))["Content"]
        assert "哪个市" in first
        second = reply_of(await h.ask("晋城高平，营收首次过了5亿", 3002))["Content"]
        assert "10万元" in second
        other = reply_of(await h.ask("我能拿多少奖励？", 3003, openid="oAnother_user"))["Content"]
        assert "哪个市" in other                                       # facts are per openid


async def test_retried_msgid_is_answered_once(tmp_path):
    async with Harness(tmp_path) as h:
        first = await h.ask("新入选中华老字号奖励多少", 4001)
        # WeChat retries only when it did not get the first reply, so a retry carries the same reply;
        # the question itself is answered (and logged) once.
        retry1 = await h.ask("新入选中华老字号奖励多少", 4001)
        retry2 = await h.ask("新入选中华老字号奖励多少", 4001)
        assert reply_of(first)["Content"] == reply_of(retry1)["Content"] == reply_of(retry2)["Content"]
        assert h.assistant.calls == 1 and h.logged() == 1
        await h.ask("新入选中华老字号奖励多少", 4002)                   # a new MsgId is a new question
        assert h.assistant.calls == 2


async def test_slow_answer_is_delivered_through_customer_service(tmp_path):
    gate = threading.Event()
    cs = FakeCustomerService()
    async with Harness(tmp_path, gate=gate, cs=cs, timeout=0.3) as h:
        first = await h.ask("晋城高平的企业营收首次过了5亿，能拿多少奖励？", 5001)
        assert reply_of(first)["Content"] == wechat.WORKING_CS       # replied at once, not the answer
        retry = await h.ask("晋城高平的企业营收首次过了5亿，能拿多少奖励？", 5001)
        assert retry == "success"                                      # the retry: nothing new to say
        assert cs.sent == []
        gate.set()
        sent = await cs.wait_for(1)
        await h.app[wechat_key()].drain()
        assert len(sent) == 1
        assert sent[0][0] == OPENID and "10万元" in sent[0][1]
        assert await h.ask("晋城高平的企业营收首次过了5亿，能拿多少奖励？", 5001) == "success"
        assert h.assistant.calls == 1 and h.logged() == 1 and len(cs.sent) == 1


async def test_slow_answer_without_customer_service_waits_for_result_word(tmp_path):
    gate = threading.Event()
    async with Harness(tmp_path, gate=gate, cs=None, timeout=0.3) as h:
        first = await h.ask("新入选中华老字号奖励多少", 6001)
        assert reply_of(first)["Content"] == wechat.WORKING_PULL
        gate.set()
        await h.app[wechat_key()].drain()
        assert "20万元" in reply_of(await h.ask("结果", 6002))["Content"]
        assert reply_of(await h.ask("结果", 6003))["Content"] == wechat.NO_PENDING


async def test_subscribe_gets_greeting_and_other_kinds_a_text_only_notice(tmp_path):
    async with Harness(tmp_path) as h:
        event = other_xml("event", "<Event><![CDATA[subscribe]]></Event>", msg_id=None)
        status, body = await h.post(event)
        assert status == 200 and "专业镇政策助手" in reply_of(body)["Content"]
        status, body = await h.post(other_xml("event", "<Event><![CDATA[unsubscribe]]></Event>", msg_id=None))
        assert status == 200 and body == "success"
        image = other_xml("image", "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl><MediaId><![CDATA[m1]]></MediaId>")
        status, body = await h.post(image)
        assert reply_of(body)["Content"] == wechat.NOT_TEXT
        voice = other_xml("voice", "<MediaId><![CDATA[m2]]></MediaId><Format><![CDATA[amr]]></Format>", msg_id=100)
        status, body = await h.post(voice)
        assert reply_of(body)["Content"] == wechat.NOT_TEXT
        assert h.assistant.calls == 0


async def test_long_answer_respects_the_length_limit(tmp_path):
    async with Harness(tmp_path, public_url="https://pz.example.org/") as h:
        content = reply_of(await h.ask("给我一个长答案", 7001))["Content"]
        assert len(content.encode("utf-8")) <= wechat.REPLY_LIMIT_BYTES
        assert content.startswith("第0条") and "https://pz.example.org/" in content
    text = "\n".join(f"第{i}条：" + "政策说明文字" * 20 for i in range(60))
    parts = wechat.cs_parts(text)
    assert 1 < len(parts) <= wechat.CS_MAX_PARTS
    assert all(len(p.encode("utf-8")) <= wechat.REPLY_LIMIT_BYTES for p in parts)
    assert parts[0].startswith("第0条：")


def test_split_text_never_breaks_a_character():
    text = "甲" * 1000 + "\n" + "乙" * 5
    parts = wechat.split_text(text, 100)
    assert all(len(p.encode("utf-8")) <= 100 for p in parts)
    assert "".join(parts).replace("\n", "") == text.replace("\n", "")


async def test_customer_service_client_against_a_local_fake_api():
    """The real wechatpy-based client, pointed at a fake WeChat API server on loopback."""
    calls = []

    async def token(request):
        calls.append(("token", dict(request.query)))
        return web.json_response({"access_token": "ACCESS", "expires_in": 7200})

    async def send(request):
        calls.append(("send", request.query.get("access_token"), await request.json()))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    api = web.Application()
    api.router.add_get("/cgi-bin/token", token)
    api.router.add_post("/cgi-bin/message/custom/send", send)
    async with TestServer(api, host="127.0.0.1") as server:
        client = wechat.WeChatAPICustomerService(APP_ID, "secret", api_base_url=str(server.make_url("/cgi-bin/")))
        await client.send_text(OPENID, "按规定可获10万元奖励。")
    assert calls[0] == ("token", {"grant_type": "client_credential", "appid": APP_ID, "secret": "secret"})
    assert calls[1] == ("send", "ACCESS", {"touser": OPENID, "msgtype": "text",
                                           "text": {"content": "按规定可获10万元奖励。"}})


def test_no_wechat_route_without_token(tmp_path):
    config = make_config(tmp_path)
    runtime = make_runtime(config, FakeAssistant())
    try:
        app = create_app(runtime, config)
        assert not any(r.resource and r.resource.canonical == "/wechat" for r in app.router.routes())
    finally:
        runtime.close()


def wechat_key():
    from bot.adapters.server import WECHAT_KEY
    return WECHAT_KEY


# ---------------------------------------------------------------------------------------------
# Owners' experience (issue 12): replies laid out from the parts, links to the cited clause and to the
# full answer on the web page, feedback by reply keyword

PUBLIC = "https://pz.example.org/"


def local(url: str) -> str:
    """The path of a link under PZ_PUBLIC_URL, to fetch it from the app under test."""
    assert url.startswith(PUBLIC), url
    return "/" + url.removeprefix(PUBLIC)


class PartsAssistant(FakeAssistant):
    """Answers the reward question with parts, as the real core does."""

    def answer(self, question, session):
        from bot.core.types import Parts
        answer = super().answer(question, session)
        if answer.status == "answered" and answer.citations and answer.citations[0].clause_id == CLAUSE.clause_id:
            answer.parts = Parts(headline="可获10万元奖励。",
                                 body=["· 营业收入首次突破5亿元：10万元"],
                                 conditions=["专业镇内企业", "营业收入首次突破5亿元"],
                                 assumptions=["按您说的：晋城市高平市"],
                                 source="依据：晋市政办〔2023〕39号 三、（一）",
                                 offices="责任单位：市工信局（0356-0000000）")
            from bot.core.compose import text_of
            answer.answer = text_of(answer.parts)
        return answer


def rows(h):
    with sqlite3.connect(h.config.log_db) as db:
        return db.execute("SELECT id, question, feedback, feedback_reason FROM questions ORDER BY id").fetchall()


async def test_reply_is_laid_out_from_the_parts_with_a_link_to_the_cited_clause(tmp_path):
    async with Harness(tmp_path, public_url=PUBLIC, assistant=PartsAssistant()) as h:
        content = reply_of(await h.ask("晋城高平的企业营收首次过了5亿，能拿多少奖励？", 9001))["Content"]
        lines = content.split("\n")
        assert lines[0] == "可获10万元奖励。"                        # the direct answer first
        assert "条件：专业镇内企业；营业收入首次突破5亿元。" in lines
        link = f"{PUBLIC}clause/jc-2023-39%233.1"
        assert f"原文（晋市政办〔2023〕39号 三、支持企业做大做强 · （一））：{link}" in lines
        assert lines[-1].startswith("觉得有用回复“有用”")
        # the link opens the clause on the web page (same app, path under the public address)
        resp = await h.client.get(local(link))
        page = await resp.text()
        assert resp.status == 200 and "晋市政办〔2023〕39号" in page and CLAUSE.text in page
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]


async def test_no_clause_links_without_a_public_address(tmp_path):
    async with Harness(tmp_path, assistant=PartsAssistant()) as h:
        content = reply_of(await h.ask("晋城高平的企业营收首次过了5亿，能拿多少奖励？", 9002))["Content"]
        assert content.startswith("可获10万元奖励。") and "原文" not in content and "http" not in content


LONG = "\n".join(f"第{i}条：" + "政策说明文字" * 20 for i in range(30))     # ~11 KB, kept whole in the log


class LongAssistant(FakeAssistant):
    def answer(self, question, session):
        answer = super().answer(question, session)
        answer.answer = LONG
        return answer


async def test_a_long_answer_is_cut_at_a_line_end_and_links_to_the_full_answer(tmp_path):
    async with Harness(tmp_path, public_url=PUBLIC, assistant=LongAssistant()) as h:
        content = reply_of(await h.ask("给我一个长答案", 9101))["Content"]
        assert len(content.encode("utf-8")) <= wechat.REPLY_LIMIT_BYTES
        head, tail = content.rsplit("\n", 1)
        assert LONG.startswith(head + "\n")                             # whole lines, nothing cut mid-line
        assert head.split("\n")[-1].endswith("政策说明文字")
        url = tail.split("：", 1)[1].rstrip("）")
        assert tail.startswith("……（内容较长，完整答案请打开：") and url.startswith(f"{PUBLIC}wechat/answer/")
        path = local(url)
        resp = await h.client.get(path)
        page = await resp.text()
        assert resp.status == 200 and "第29条：" in page and "第0条：" in page
        assert resp.headers["Cache-Control"] == "no-store"
        # the link cannot be guessed: another question id, or a changed MAC, is not found
        qid, mac = path.rsplit("/", 1)[1].split(".")
        for bad in (f"{int(qid) + 1}.{mac}", f"{qid}.{'0' * len(mac)}", qid, f"{qid}.{mac}x", "x.y"):
            resp = await h.client.get(path.rsplit("/", 1)[0] + "/" + bad)
            assert resp.status == 404 and "第29条" not in await resp.text(), bad


def test_shorten_cuts_a_single_long_line_at_a_sentence_end():
    text = "结论：可以申报。" + "说明文字很长，" * 200 + "这是最后一句。"
    cut = wechat.shorten(text, 300, web_url="https://x.example/a/1")
    assert len(cut.encode("utf-8")) <= 300
    assert cut.startswith("结论：可以申报。\n……（内容较长") and cut.endswith("https://x.example/a/1）")


async def test_feedback_by_reply_keyword_rates_the_askers_last_answer(tmp_path):
    async with Harness(tmp_path) as h:
        assert reply_of(await h.ask("有用", 9201))["Content"] == wechat.NOTHING_TO_RATE   # nothing asked yet
        await h.ask("新入选中华老字号奖励多少", 9202)
        assert reply_of(await h.ask("有用", 9203))["Content"] == wechat.THANKS_UP
        assert rows(h)[-1][2:] == (1, None)
        got = reply_of(await h.ask("没用 金额不对", 9204))["Content"]
        assert "金额不对" in got and "留言" in got
        assert rows(h)[-1][2:] == (-1, "金额不对")
        # another user cannot rate it
        assert reply_of(await h.ask("没用，乱说", 9205, openid="oOther_user"))["Content"] == wechat.NOTHING_TO_RATE
        assert rows(h)[-1][2:] == (-1, "金额不对")
        # the keywords are not questions: nothing new was asked or logged
        assert h.assistant.calls == 1 and len(rows(h)) == 1
        # a question that merely starts with the word is a question
        await h.ask("有用吗这个政策", 9206)
        assert h.assistant.calls == 2 and len(rows(h)) == 2
        assert reply_of(await h.ask("没用", 9207))["Content"] == wechat.THANKS_DOWN_NO_REASON
        assert rows(h)[-1][2:] == (-1, None)


async def test_feedback_keyword_after_a_follow_up_question_rates_nothing(tmp_path):
    async with Harness(tmp_path) as h:
        assert "哪个市" in reply_of(await h.ask("我能拿多少奖励？", 9301))["Content"]
        assert reply_of(await h.ask("没用", 9302))["Content"] == wechat.NOTHING_TO_RATE
        assert rows(h)[0][2] is None


@pytest.mark.slow
async def test_real_assistant_reply_within_the_limit_with_a_working_clause_link(request, tmp_path):
    assistant = request.getfixturevalue("assistant")
    async with Harness(tmp_path, public_url=PUBLIC, assistant=assistant) as h:
        await h.ask("我们是涉农企业，营收首次过了5亿", 9401)
        content = reply_of(await h.ask("高平的，能拿多少奖励？", 9402))["Content"]
        assert len(content.encode("utf-8")) <= wechat.REPLY_LIMIT_BYTES
        assert "30万元" in content.split("\n")[0] or "30万元" in content.split("\n")[1], content
        links = [ln.rsplit("：", 1)[1] for ln in content.split("\n") if ln.startswith("原文（")]
        assert links, content
        for link in links:
            resp = await h.client.get(local(link))
            assert resp.status == 200 and "找不到" not in await resp.text(), link
        assert reply_of(await h.ask("没用 电话打不通", 9403))["Content"].startswith("已记录您的意见")
        assert rows(h)[-1][2:] == (-1, "电话打不通")
