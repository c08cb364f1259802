// Web chat: a WeChat-style conversation over POST /api/ask and /api/feedback.
// Everything from the user or the server is put on the page as text (textContent / text nodes),
// never as HTML.
(function () {
  "use strict";

  var SESSION_KEY = "pz.session_id";
  var GREETING = "您好！我是专业镇政策助手。可以问我山西专业镇支持政策：能拿多少奖励、够不够申报条件、找哪个部门。" +
    "\n点下面的常见问题，或直接输入。";

  var messages = document.getElementById("messages");
  var form = document.getElementById("ask-form");
  var input = document.getElementById("question");
  var sendBtn = document.getElementById("send");
  var chips = Array.prototype.slice.call(document.querySelectorAll("#chips .chip"));
  var busy = false;

  // The server issues session ids: the first question goes without one, and the id in each reply
  // is kept (and sent with the next question and with 👍/👎). "新对话" forgets it.
  function storedSession() {
    var id = null;
    try { id = localStorage.getItem(SESSION_KEY); } catch (e) { /* private mode */ }
    return id && /^[A-Za-z0-9_-]{8,64}$/.test(id) ? id : null;
  }
  function keepSession(id) {
    if (typeof id !== "string" || !/^[A-Za-z0-9_-]{8,64}$/.test(id)) return;
    session = id;
    try { localStorage.setItem(SESSION_KEY, id); } catch (e) { /* keep it for this page only */ }
  }
  function forgetSession() {
    session = null;
    try { localStorage.removeItem(SESSION_KEY); } catch (e) { /* nothing stored */ }
  }
  var session = storedSession();

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function scrollDown() { messages.scrollTop = messages.scrollHeight; }

  function addMessage(who) {
    var node = document.getElementById(who === "user" ? "tpl-user" : "tpl-bot").content.firstElementChild.cloneNode(true);
    messages.appendChild(node);
    return node;
  }

  function addUser(text) {
    var node = addMessage("user");
    node.querySelector(".bubble").textContent = text;
    scrollDown();
    return node;
  }

  // The reward amounts of the answer (rewards[].amount_yuan, total_yuan) are highlighted where the
  // text names them ("10万元", "100,000元", "0.5亿元"); other numbers (thresholds) are left alone.
  var AMOUNT = /(\d[\d,，]*(?:\.\d+)?)\s*(万元|亿元|万|亿|元)/g;
  function amountValue(num, unit) {
    var n = parseFloat(num.replace(/[,，]/g, ""));
    var mult = unit.charAt(0) === "万" ? 1e4 : unit.charAt(0) === "亿" ? 1e8 : 1;
    return Math.round(n * mult);
  }
  function appendHighlighted(parent, text, amounts) {
    var last = 0, m;
    AMOUNT.lastIndex = 0;
    while ((m = AMOUNT.exec(text)) !== null) {
      if (!amounts[amountValue(m[1], m[2])]) continue;
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      parent.appendChild(el("strong", "amt", m[0]));
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }
  function rewardAmounts(data) {
    var set = {};
    (data.rewards || []).forEach(function (r) { if (typeof r.amount_yuan === "number") set[r.amount_yuan] = true; });
    if (typeof data.total_yuan === "number") set[data.total_yuan] = true;
    return set;
  }

  function yuan(n) {
    if (n === null || n === undefined) return null;
    if (n >= 10000 && n % 100 === 0) {
      var wan = n / 10000;
      return (Math.round(wan * 100) / 100).toString() + "万元";
    }
    return n.toLocaleString("zh-CN") + "元";
  }

  function rewardCard(data) {
    var rewards = data.rewards || [];
    if (!rewards.length && (data.total_yuan === null || data.total_yuan === undefined)) return null;
    var card = el("div", "reward-card");
    if (data.total_yuan !== null && data.total_yuan !== undefined) {
      var total = el("div", "total");
      total.appendChild(el("span", "label", "可获奖励合计"));
      total.appendChild(el("span", "amount", yuan(data.total_yuan)));
      card.appendChild(total);
    }
    if (rewards.length) {
      var ul = el("ul");
      rewards.forEach(function (r) {
        var li = el("li");
        li.appendChild(el("span", "item", r.item));
        var has = r.amount_yuan !== null && r.amount_yuan !== undefined;
        li.appendChild(el("span", "yuan" + (has ? "" : " none"), has ? yuan(r.amount_yuan) : "按规定给予"));
        if (r.basis) li.title = r.basis;
        ul.appendChild(li);
      });
      card.appendChild(ul);
    }
    return card;
  }

  function citationsBlock(citations) {
    if (!citations || !citations.length) return null;
    var box = el("div", "citations");
    box.appendChild(el("div", "head", "政策依据（点开看原文）"));
    citations.forEach(function (c) {
      var d = el("details", "citation");
      var label = [c.number, c.clause].filter(Boolean).join(" · ") || c.doc || "条款";
      d.appendChild(el("summary", null, label));
      if (c.doc) d.appendChild(el("div", "doc", "《" + c.doc.replace(/^《|》$/g, "") + "》"));
      d.appendChild(el("p", "clause-text", c.text || ""));
      box.appendChild(d);
    });
    return box;
  }

  function warningsBlock(warnings) {
    if (!warnings || !warnings.length) return null;
    var box = el("div", "warnings");
    warnings.forEach(function (w) { box.appendChild(el("p", null, "⚠ " + w)); });
    return box;
  }

  function sendFeedback(sid, qid, value, reason) {
    var body = { session_id: sid, question_id: qid, value: value };
    if (reason) body.reason = reason;
    return fetch("/api/feedback", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) { return r.ok; }).catch(function () { return false; });
  }

  function feedbackBar(sid, qid) {
    var bar = el("div", "feedback");
    var up = el("button", "fb-up", "👍");
    var down = el("button", "fb-down", "👎");
    up.type = down.type = "button";
    up.title = "有用"; down.title = "没用";
    up.setAttribute("aria-label", "有用"); down.setAttribute("aria-label", "没用");
    bar.appendChild(up); bar.appendChild(down);
    function choose(btn, value) {
      up.disabled = down.disabled = true;
      btn.classList.add("chosen");
      sendFeedback(sid, qid, value).then(function (ok) {
        bar.appendChild(el("span", "thanks", ok ? "感谢反馈" : "反馈未能提交"));
        if (ok && value < 0) {
          var row = el("form", "reason");
          var why = el("input"); why.maxLength = 500; why.placeholder = "哪里不对？（可选）";
          var submit = el("button", null, "提交"); submit.type = "submit";
          row.appendChild(why); row.appendChild(submit);
          row.addEventListener("submit", function (ev) {
            ev.preventDefault();
            var text = why.value.trim();
            if (!text) return;
            submit.disabled = why.disabled = true;
            sendFeedback(sid, qid, -1, text).then(function () { row.replaceWith(el("span", "thanks", "已记录，谢谢")); });
          });
          bar.appendChild(row);
        }
      });
    }
    up.addEventListener("click", function () { choose(up, 1); });
    down.addEventListener("click", function () { choose(down, -1); });
    return bar;
  }

  function addBot(data) {
    var node = addMessage("bot");
    node.dataset.status = data.status || "";
    if (data.question_id) node.dataset.questionId = data.question_id;
    var bubble = node.querySelector(".bubble");
    appendHighlighted(bubble, data.answer || "", rewardAmounts(data));
    [rewardCard(data), warningsBlock(data.warnings), citationsBlock(data.citations)].forEach(function (b) {
      if (b) bubble.appendChild(b);
    });
    if (data.question_id && data.session_id) {
      node.querySelector(".body").appendChild(feedbackBar(data.session_id, data.question_id));
    }
    scrollDown();
    return node;
  }

  function addError(text) {
    var node = addMessage("bot");
    node.classList.add("error");
    node.querySelector(".bubble").textContent = text;
    scrollDown();
  }

  function showTyping() {
    var node = addMessage("bot");
    node.classList.add("typing");
    node.setAttribute("aria-label", "正在输入");
    var dots = el("span", "dots");
    dots.appendChild(el("i")); dots.appendChild(el("i")); dots.appendChild(el("i"));
    node.querySelector(".bubble").appendChild(dots);
    scrollDown();
    return node;
  }

  function setBusy(b) {
    busy = b;
    sendBtn.disabled = b;
    chips.forEach(function (c) { c.disabled = b; });
  }

  function ask(question) {
    question = (question || "").trim();
    if (!question || busy) return;
    addUser(question);
    input.value = "";
    setBusy(true);
    var typing = showTyping();
    fetch("/api/ask", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(session ? { session_id: session, question: question } : { question: question })
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (res) {
      typing.remove();
      if (res.ok) { keepSession(res.data.session_id); addBot(res.data); }
      else addError(res.data.error || "抱歉，系统暂时无法回答，请稍后再试。");
    }).catch(function () {
      typing.remove();
      addError("网络连接失败，请检查网络后重试。");
    }).then(function () {
      setBusy(false);
      input.focus();
    });
  }

  function greet() {
    var now = new Date();
    messages.appendChild(el("div", "timestamp",
      ("0" + now.getHours()).slice(-2) + ":" + ("0" + now.getMinutes()).slice(-2)));
    addBot({ answer: GREETING });
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); ask(input.value); });
  chips.forEach(function (c) { c.addEventListener("click", function () { ask(c.textContent); }); });
  document.getElementById("new-chat").addEventListener("click", function () {
    if (busy) return;
    forgetSession();
    while (messages.firstChild) messages.removeChild(messages.firstChild);
    greet();
    input.focus();
  });

  greet();
})();
