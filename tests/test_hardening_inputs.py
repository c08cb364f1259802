"""Generated hostile input (hypothesis) through every entry: the core's `Assistant.answer()` (the real
assistant, the `assistant` fixture), the web chat's `POST /api/ask` and the WeChat endpoint (plain and
safe mode). Each must give a reply — the answer contract, a WeChat text reply, "success" — or a 4xx with a
plain message: never a 500, never a traceback. The cases issue 11 found by hand are always among the
examples.

The adapters run here over `EchoAssistant` (instant, and it answers with hostile text of its own, so the
output side is attacked too); example counts keep the file well under a minute. The same strategies go
through the real assistant end to end, ~2,000 inputs per entry, in `benchmarks/hostile_inputs.py`."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.core.types import Session
from tests.fakes import hostile

SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
ANSWER_EXAMPLES = 50      # conversations of 1–2 turns, plus the known cases: the real core is the slow part


@pytest.fixture(autouse=True)
def _loopback(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost,::1")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """The web + WeChat application on 127.0.0.1, as `serve` runs it, over a Runtime on EchoAssistant."""
    from bot.config import Config
    from bot.runtime import Runtime
    tmp = tmp_path_factory.mktemp("hostile")
    config = Config(documents_dir=tmp / "documents", rules_dir=tmp / "rules", data_dir=tmp / "data")
    runtime = Runtime.start(config, assistant=hostile.EchoAssistant())
    with hostile.LiveServer(runtime, config) as server:
        yield server
    runtime.close()


# ---------------------------------------------------------------------------------------------
# The core

def _with_known_examples(test):
    for q in hostile.KNOWN_QUESTIONS:
        test = example(turns=[q])(test)
    return example(turns=["我能拿多少奖励？", "营收" + "9" * 400 + "亿元"])(test)


@_with_known_examples
@settings(max_examples=ANSWER_EXAMPLES, **SETTINGS)
@given(turns=st.lists(hostile.questions, min_size=1, max_size=2))
def test_answer_survives_hostile_questions(assistant, turns):
    """A conversation of hostile questions: every turn an Answer, and the session stays storable."""
    session = Session(id="hostile")
    for q in turns:
        hostile.check_answer(assistant.answer(q, session))
        json.dumps([session.facts, session.pending, session.state], ensure_ascii=True)   # SessionStore keeps it


# ---------------------------------------------------------------------------------------------
# POST /api/ask

@example(body=b"[" * 5000, content_type="application/json")
@example(body=json.dumps({"question": "营收" + "9" * 400 + "亿元"}).encode(), content_type="application/json")
@example(body=b'{"question": "\\ud800\xe5\xa5\x96\xe5\x8a\xb1"}', content_type="application/json")
@example(body=b'{"question_id": 1, "value": -1}', content_type="text/plain")
@example(body=json.dumps({"question": "boom 奖励"}).encode(), content_type="application/json")
@settings(max_examples=150, **SETTINGS)
@given(body=hostile.api_bodies, content_type=hostile.api_content_types)
def test_api_ask_survives_hostile_bodies(live, body, content_type):
    status, reply = live.ask(body, content_type)
    hostile.check_api_reply(status, reply, content_type)


@settings(max_examples=60, **SETTINGS)
@given(questions=st.lists(hostile.questions, min_size=1, max_size=3))
def test_api_ask_conversations_keep_their_server_issued_session(live, questions):
    session_id = None
    for q in questions:
        body = {"question": q} if session_id is None else {"question": q, "session_id": session_id}
        status, reply = live.ask(json.dumps(body).encode())
        hostile.check_api_reply(status, reply, "application/json")
        if status == 200:
            data = json.loads(reply)
            assert session_id is None or data["session_id"] == session_id
            session_id = data["session_id"]


# ---------------------------------------------------------------------------------------------
# /wechat, correctly signed (the signature does not cover the body in plain mode)

@example(xml="<xml><ToUserName>gh_pz</ToUserName><FromUserName>oUser_openid_1</FromUserName>"
             "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType><Content><b>x</b></Content>"
             "<MsgId>1</MsgId></xml>")
@example(xml="<xml><ToUserName>gh_pz</ToUserName><FromUserName>oUser_openid_1</FromUserName>"
             "<CreateTime>1700000000</CreateTime><MsgType>text</MsgType>"
             f"<Content>营收{'9' * 400}亿元</Content><MsgId>2</MsgId></xml>")
@settings(max_examples=150, **SETTINGS)
@given(xml=hostile.wechat_bodies)
def test_wechat_survives_hostile_messages(live, xml):
    status, reply = live.wechat(hostile.wechat_bytes(xml))
    hostile.check_wechat_reply(status, reply)


@settings(max_examples=40, **SETTINGS)
@given(xml=hostile.wechat_bodies)
def test_wechat_safe_mode_survives_hostile_messages(live, xml):
    status, reply = live.wechat(hostile.wechat_bytes(xml), safe=True)
    hostile.check_wechat_reply(status, reply)
