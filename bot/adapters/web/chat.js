// Web chat: a WeChat-style conversation over the JSON API (/api/ask, /api/feedback, /api/history,
// /api/facts, /api/reset, /api/profile). Answers are laid out from their parts: the status line once, the direct answer,
// the amount card under it, details, and 依据 / 责任单位 folded. Everything from the user or the server
// is put on the page as text (textContent / text nodes), never as HTML.
(function () {
  "use strict";

  var SESSION_KEY = "pz.session_id";
  var GREETING = "您好！我是专业镇政策助手。可以问我山西专业镇支持政策：能拿多少奖励、够不够申报条件、找哪个部门。" +
    "\n点下面的问题，或直接输入。";
  var DOWN_REASONS = ["金额不对", "没回答我的问题", "依据不对", "信息过时了", "看不懂"];

  var messages = document.getElementById("messages");
  var form = document.getElementById("ask-form");
  var input = document.getElementById("question");
  var sendBtn = document.getElementById("send");
  var chipBox = document.getElementById("chips");
  var DEFAULT_CHIPS = Array.prototype.map.call(chipBox.querySelectorAll(".chip"), function (c) { return c.textContent; });
  var busy = false;

  // The server issues session ids: the first question goes without one, and the id in each reply
  // is kept (and sent with the next question, with 👍/👎, for the history and the facts). "新对话"
  // forgets the conversation on the server and here.
  function validId(id) { return typeof id === "string" && /^[A-Za-z0-9_-]{8,64}$/.test(id); }
  function storedSession() {
    var id = null;
    try { id = localStorage.getItem(SESSION_KEY); } catch (e) { /* private mode */ }
    return validId(id) ? id : null;
  }
  function keepSession(id) {
    if (!validId(id)) return;
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
  function button(cls, text, title) {
    var b = el("button", cls, text);
    b.type = "button";
    if (title) { b.title = title; b.setAttribute("aria-label", title); }
    return b;
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, data: data }; });
    });
  }

  function scrollDown() { messages.scrollTop = messages.scrollHeight; }
  // a new reply is shown from its start (the direct answer and the amount), not from its end
  function scrollToStart(node) {
    var top = node.offsetTop - messages.offsetTop - 8;
    messages.scrollTop = Math.max(0, top);
  }

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

  // Amounts the answer pays (rewards[].amount_yuan, total_yuan) are highlighted where the text names them
  // ("10万元", "100,000元"); other numbers (thresholds such as 5亿元) are left alone.
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
    if (n >= 10000 && n % 100 === 0) return (Math.round(n / 100) / 100).toString() + "万元";
    return n.toLocaleString("zh-CN") + "元";
  }

  function rewardCard(data) {
    var rewards = data.rewards || [];
    var hasTotal = typeof data.total_yuan === "number";
    if (!rewards.length && !hasTotal) return null;
    var card = el("div", "reward-card");
    if (hasTotal) {
      var total = el("div", "total");
      total.appendChild(el("span", "label", rewards.length > 1 ? "可获奖励合计" : "可获奖励"));
      total.appendChild(el("span", "amount", yuan(data.total_yuan)));
      card.appendChild(total);
    }
    if (rewards.length > 1 || (rewards.length && !hasTotal)) {
      var ul = el("ul");
      rewards.forEach(function (r) {
        var li = el("li");
        li.appendChild(el("span", "item", r.item));
        var has = typeof r.amount_yuan === "number";
        li.appendChild(el("span", "yuan" + (has ? "" : " none"), has ? yuan(r.amount_yuan) : "按规定给予"));
        if (r.basis) li.title = r.basis;
        ul.appendChild(li);
      });
      card.appendChild(ul);
    }
    return card;
  }

  function clean(line) { return String(line || "").replace(/^\s*(⚠️|⚠)\s*/, ""); }

  function statusBox(text) {
    var box = el("div", "status");
    box.appendChild(el("span", "icon", "⚠"));
    box.appendChild(el("span", "text", clean(text)));
    return box;
  }

  function fold(cls, title, fill) {
    var d = el("details", "fold " + cls);
    d.appendChild(el("summary", null, title));
    fill(d);
    return d;
  }

  function citationList(parent, citations) {
    (citations || []).forEach(function (c) {
      var d = el("details", "citation");
      var label = [c.number, c.clause].filter(Boolean).join(" · ") || c.doc || "条款";
      d.appendChild(el("summary", null, label));
      if (c.doc) d.appendChild(el("div", "doc", "《" + c.doc.replace(/^《|》$/g, "") + "》"));
      d.appendChild(el("p", "clause-text", c.text || ""));
      parent.appendChild(d);
    });
  }

  function choiceButtons(choices) {
    var box = el("div", "choices");
    choices.forEach(function (c) {
      var b = button("choice", c);
      b.addEventListener("click", function () {
        if (busy) return;
        box.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        b.classList.add("chosen");
        ask(c);
      });
      box.appendChild(b);
    });
    return box;
  }

  // The reply laid out from its parts (answers from the core); a reply without parts is shown as text.
  function renderParts(bubble, data) {
    var p = data.parts, amounts = rewardAmounts(data);
    if (p.status) bubble.appendChild(statusBox(p.status));
    if (p.headline) {
      var head = el("p", "headline");
      appendHighlighted(head, p.headline, amounts);
      bubble.appendChild(head);
    }
    var card = rewardCard(data);
    if (card) bubble.appendChild(card);
    var items = (p.body || []).filter(Boolean);
    if (items.length) {
      var listed = items.every(function (x) { return /^[·•\-]/.test(x.trim()); });
      var body = el(listed ? "ul" : "div", "details");
      items.forEach(function (x) {
        var line = el(listed ? "li" : "p");
        appendHighlighted(line, listed ? x.trim().replace(/^[·•\-]\s*/, "") : x, amounts);
        body.appendChild(line);
      });
      bubble.appendChild(body);
    }
    if (p.conditions && p.conditions.length) {
      var cond = el("div", "conditions");
      cond.appendChild(el("div", "label", "条件"));
      var ul = el("ul");
      p.conditions.forEach(function (c) { ul.appendChild(el("li", null, c)); });
      cond.appendChild(ul);
      bubble.appendChild(cond);
    }
    (p.notes || []).forEach(function (n) { bubble.appendChild(el("p", "note", n)); });
    (p.assumptions || []).forEach(function (a) { bubble.appendChild(el("p", "assumption", a)); });
    (data.extra || []).forEach(function (x) { bubble.appendChild(el("p", "note", x)); });
    if (p.choices && p.choices.length) bubble.appendChild(choiceButtons(p.choices));
    if (p.source || (data.citations || []).length) {
      bubble.appendChild(fold("source", "依据", function (d) {
        if (p.source) d.appendChild(el("p", "source-line", p.source.replace(/^依据：/, "")));
        citationList(d, data.citations);
      }));
    }
    if (p.offices) {
      bubble.appendChild(fold("offices", "责任单位和电话", function (d) {
        d.appendChild(el("p", null, p.offices.replace(/^责任单位：/, "")));
      }));
    }
  }

  function renderText(bubble, data) {
    var text = clean(data.answer || "");
    var amounts = rewardAmounts(data);
    var lines = text.split("\n");
    var first = el("p", "headline");
    appendHighlighted(first, lines[0], amounts);
    bubble.appendChild(first);
    var card = rewardCard(data);
    if (card) bubble.appendChild(card);
    if (lines.length > 1) {
      var rest = el("p", "rest");
      appendHighlighted(rest, lines.slice(1).join("\n"), amounts);
      bubble.appendChild(rest);
    }
    (data.warnings || []).forEach(function (w) {
      if (text.indexOf(clean(w)) < 0) bubble.insertBefore(statusBox(w), bubble.firstChild);
    });
    if ((data.citations || []).length) bubble.appendChild(fold("source", "依据", function (d) { citationList(d, data.citations); }));
  }

  function sendFeedback(qid, value, reason) {
    var body = { session_id: session, question_id: qid, value: value };
    if (reason) body.reason = reason;
    return post("/api/feedback", body).then(function (r) { return r.ok; }).catch(function () { return false; });
  }

  function copyText(text) {
    if (navigator.clipboard && navigator.clipboard.writeText) {
      return navigator.clipboard.writeText(text).then(function () { return true; }, function () { return fallbackCopy(text); });
    }
    return Promise.resolve(fallbackCopy(text));
  }
  function fallbackCopy(text) {
    var ta = el("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed"; ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }

  function shareText(data) {
    var text = clean(data.answer || "");
    (data.citations || []).slice(0, 1).forEach(function (c) { if (c.number) text += "\n（" + c.number + " " + (c.clause || "") + "）"; });
    return text + "\n—— 专业镇政策助手";
  }

  function actionBar(data) {
    var bar = el("div", "actions");
    var status = el("span", "thanks");
    var copy = button("act copy", "复制", "复制这条回答");
    copy.addEventListener("click", function () {
      copyText(shareText(data)).then(function (ok) { status.textContent = ok ? "已复制" : "复制失败，请长按文字复制"; });
    });
    bar.appendChild(copy);
    if (navigator.share) {
      var share = button("act share", "分享", "分享这条回答");
      share.addEventListener("click", function () {
        navigator.share({ title: "专业镇政策助手", text: shareText(data) }).catch(function () { /* cancelled */ });
      });
      bar.appendChild(share);
    }
    if (data.question_id && data.status !== "clarify") {
      var up = button("fb-up", "👍", "有用");
      var down = button("fb-down", "👎", "没用");
      bar.appendChild(up); bar.appendChild(down);
      var choose = function (btn, value) {
        up.disabled = down.disabled = true;
        btn.classList.add("chosen");
        sendFeedback(data.question_id, value).then(function (ok) {
          status.textContent = ok ? "感谢反馈" : "反馈未能提交";
          if (ok && value < 0) bar.parentNode.appendChild(reasonBox(data.question_id));
        });
      };
      up.addEventListener("click", function () { choose(up, 1); });
      down.addEventListener("click", function () { choose(down, -1); });
    }
    bar.appendChild(status);
    return bar;
  }

  // After 👎: preset reasons (one tap) or a sentence; the box is scrolled into view above the input bar.
  function reasonBox(qid) {
    var box = el("div", "reason");
    box.appendChild(el("div", "label", "哪里不对？"));
    var presets = el("div", "reason-presets");
    var row = el("form", "reason-row");
    var why = el("input"); why.maxLength = 500; why.placeholder = "也可以写一句（可选）";
    var submit = el("button", null, "提交"); submit.type = "submit";
    function done(text) {
      presets.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      submit.disabled = why.disabled = true;
      sendFeedback(qid, -1, text).then(function (ok) {
        box.replaceWith(el("div", "reason-done", ok ? "已记录，谢谢" : "未能提交，请稍后再试"));
      });
    }
    DOWN_REASONS.forEach(function (r) {
      var b = button("reason-chip", r);
      b.addEventListener("click", function () { done(r); });
      presets.appendChild(b);
    });
    row.appendChild(why); row.appendChild(submit);
    row.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = why.value.trim();
      if (text) done(text);
    });
    box.appendChild(presets); box.appendChild(row);
    setTimeout(function () { box.scrollIntoView({ block: "nearest" }); }, 0);
    return box;
  }

  function addStaffReply(r) {
    var node = addMessage("bot");
    node.classList.add("staff");
    var bubble = node.querySelector(".bubble");
    bubble.appendChild(el("div", "staff-head", "工作人员回复" + (r.ref ? "（留言编号 " + r.ref + "）" : "")));
    if (r.message) bubble.appendChild(el("p", "staff-asked", "您的留言：" + r.message));
    bubble.appendChild(el("p", null, r.reply));
    return node;
  }

  function addBot(data, opts) {
    opts = opts || {};
    (data.staff_replies || []).forEach(addStaffReply);
    var node = addMessage("bot");
    node.dataset.status = data.status || "";
    if (data.qtype) node.dataset.qtype = data.qtype;
    if (data.question_id) node.dataset.questionId = data.question_id;
    var bubble = node.querySelector(".bubble");
    if (data.parts) renderParts(bubble, data); else renderText(bubble, data);
    if (data.question_id && session) node.querySelector(".body").appendChild(actionBar(data));
    if (!opts.history) {
      showChips(data.parts && data.parts.suggestions && data.parts.suggestions.length ? data.parts.suggestions : null);
      scrollToStart(node);
    }
    return node;
  }

  function addError(text) {
    var node = addMessage("bot");
    node.classList.add("error");
    node.querySelector(".bubble").textContent = text;
    scrollToStart(node);
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

  // Suggested next questions after an answer (or the common questions when there are none).
  function showChips(list) {
    var texts = list && list.length ? list : DEFAULT_CHIPS;
    while (chipBox.firstChild) chipBox.removeChild(chipBox.firstChild);
    texts.forEach(function (t) {
      var c = button("chip", t);
      c.disabled = busy;
      c.addEventListener("click", function () { ask(t); });
      chipBox.appendChild(c);
    });
    chipBox.classList.toggle("suggested", !!(list && list.length));
  }

  function setBusy(b) {
    busy = b;
    sendBtn.disabled = b;
    chipBox.querySelectorAll(".chip").forEach(function (c) { c.disabled = b; });
  }

  function ask(question) {
    question = (question || "").trim();
    if (!question || busy) return;
    addUser(question);
    input.value = "";
    setBusy(true);
    var typing = showTyping();
    post("/api/ask", session ? { session_id: session, question: question } : { question: question }).then(function (res) {
      typing.remove();
      if (res.ok) { keepSession(res.data.session_id); addBot(res.data); }
      else addError(res.data.error || "抱歉，系统暂时无法回答，请稍后再试。");
    }).catch(function () {
      typing.remove();
      addError("网络连接失败，请检查网络后重试。");
    }).then(function () {
      setBusy(false);
      if (!window.matchMedia || !window.matchMedia("(pointer: coarse)").matches) input.focus();
    });
  }

  function stamp(date) {
    messages.appendChild(el("div", "timestamp",
      ("0" + date.getHours()).slice(-2) + ":" + ("0" + date.getMinutes()).slice(-2)));
  }

  function greet() {
    stamp(new Date());
    addBot({ answer: GREETING }, { history: true });
    showChips(null);
  }

  // New-policy notices for an owner who saved their enterprise's profile: shown once, on the next visit.
  function showNotices(list) {
    (list || []).forEach(function (n) {
      var node = addBot({ answer: n.text, status: "notice" }, { history: true });
      node.classList.add("notice");
    });
  }

  // After a reload: the conversation kept on the server for this session.
  function restore() {
    if (!session) { greet(); return; }
    post("/api/history", { session_id: session }).then(function (res) {
      var turns = res.ok && res.data.turns ? res.data.turns : [];
      var notices = res.ok ? res.data.notices : [];
      if (!turns.length) { greet(); showNotices(notices); return; }
      stamp(new Date(turns[0].ts * 1000));
      addBot({ answer: GREETING }, { history: true });
      turns.forEach(function (t) {
        addUser(t.question);
        var reply = t.reply || {};
        addBot(reply, { history: true });
      });
      showNotices(notices);
      var last = turns[turns.length - 1].reply || {};
      showChips(last.parts && last.parts.suggestions && last.parts.suggestions.length ? last.parts.suggestions : null);
      var bots = messages.querySelectorAll(".msg.bot");
      scrollToStart(bots[bots.length - 1]);
    }).catch(function () { greet(); });
  }

  // -- "what I know about your enterprise"
  var panel = document.getElementById("facts-panel");
  var factsList = document.getElementById("facts-list");
  var factsEmpty = document.getElementById("facts-empty");
  var factsError = document.getElementById("facts-error");
  var clearBtn = document.getElementById("clear-facts");

  function showFacts(items) {
    while (factsList.firstChild) factsList.removeChild(factsList.firstChild);
    factsEmpty.hidden = items.length > 0;
    clearBtn.hidden = items.length === 0;
    items.forEach(function (f) {
      var li = el("li", "fact");
      li.dataset.key = f.key;
      var text = el("div", "fact-text");
      text.appendChild(el("span", "fact-label", f.label));
      text.appendChild(el("span", "fact-value", f.value));
      li.appendChild(text);
      var tools = el("div", "fact-tools");
      if (f.editable) {
        var edit = button("fact-edit", "修改", "修改" + f.label);
        edit.addEventListener("click", function () { editFact(li, f); });
        tools.appendChild(edit);
      }
      var del = button("fact-remove", "删除", "删除" + f.label);
      del.addEventListener("click", function () { factsCall({ key: f.key, remove: true }); });
      tools.appendChild(del);
      li.appendChild(tools);
      factsList.appendChild(li);
    });
  }

  function editFact(li, f) {
    var formEl = el("form", "fact-form");
    if (f.key === "agricultural") {
      ["是", "否"].forEach(function (v) {
        var b = button("fact-choice", v);
        b.addEventListener("click", function () { factsCall({ key: f.key, value: v }); });
        formEl.appendChild(b);
      });
    } else {
      var box = el("input");
      box.maxLength = 100;
      box.value = f.value;
      box.placeholder = f.key === "region" ? "例如：泽州县" : "例如：5.2亿元，首次达到";
      var save = el("button", null, "保存"); save.type = "submit";
      formEl.appendChild(box); formEl.appendChild(save);
      formEl.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (box.value.trim()) factsCall({ key: f.key, value: box.value.trim() });
      });
      setTimeout(function () { box.focus(); }, 0);
    }
    var tools = li.querySelector(".fact-tools");
    if (tools) tools.replaceWith(formEl);
  }

  function factsCall(extra) {
    factsError.hidden = true;
    if (!session) { showFacts([]); return Promise.resolve(); }
    var body = { session_id: session };
    Object.keys(extra || {}).forEach(function (k) { body[k] = extra[k]; });
    return post("/api/facts", body).then(function (res) {
      if (!res.ok) { factsError.textContent = res.data.error || "未能保存，请稍后再试。"; factsError.hidden = false; return; }
      showFacts(res.data.facts || []);
    }).catch(function () { factsError.textContent = "网络连接失败。"; factsError.hidden = false; });
  }

  // -- the enterprise profile kept with the owner's consent (for new-policy notices)
  var profileStatus = document.getElementById("profile-status");
  var profileSave = document.getElementById("profile-save");
  var profileNotify = document.getElementById("profile-notify");
  var profileDelete = document.getElementById("profile-delete");
  var profileNotifyOn = false;

  function showProfile(p) {
    profileSave.hidden = !!p;
    profileDelete.hidden = !p;
    profileNotify.hidden = !p;
    if (p) {
      profileNotifyOn = !!p.notify;
      profileStatus.textContent = "这些信息已按您的同意保存" + (p.notify ? "，有适用于您的新政策时会在这里提醒您。" : "（新政策提醒已关闭）。");
      profileNotify.textContent = p.notify ? "关闭新政策提醒" : "开启新政策提醒";
    } else {
      profileStatus.textContent = "这些信息只在本次对话中使用。保存后，有适用于您的新政策时会在这里提醒您，可随时删除。";
    }
  }

  function profileCall(action) {
    if (!session) { showProfile(null); return Promise.resolve(); }
    var body = { session_id: session };
    if (action) body.action = action;
    factsError.hidden = true;
    return post("/api/profile", body).then(function (res) {
      if (!res.ok) { factsError.textContent = res.data.error || "未能完成，请稍后再试。"; factsError.hidden = false; return; }
      showProfile(res.data.profile);
      if (action) showFacts(res.data.facts || []);
    }).catch(function () { factsError.textContent = "网络连接失败。"; factsError.hidden = false; });
  }
  profileSave.addEventListener("click", function () { profileCall("save"); });
  profileDelete.addEventListener("click", function () { profileCall("delete"); });
  profileNotify.addEventListener("click", function () { profileCall(profileNotifyOn ? "notify_off" : "notify_on"); });

  document.getElementById("open-facts").addEventListener("click", function () {
    panel.hidden = false;
    factsCall({});
    profileCall(null);
  });
  document.getElementById("close-facts").addEventListener("click", function () { panel.hidden = true; });
  panel.addEventListener("click", function (ev) { if (ev.target === panel) panel.hidden = true; });
  clearBtn.addEventListener("click", function () { factsCall({ clear: true }); });

  form.addEventListener("submit", function (ev) { ev.preventDefault(); ask(input.value); });
  chipBox.querySelectorAll(".chip").forEach(function (c) { c.addEventListener("click", function () { ask(c.textContent); }); });
  document.getElementById("new-chat").addEventListener("click", function () {
    if (busy) return;
    if (session) post("/api/reset", { session_id: session }).catch(function () { /* forgotten here anyway */ });
    forgetSession();
    while (messages.firstChild) messages.removeChild(messages.firstChild);
    greet();
  });

  restore();
})();
