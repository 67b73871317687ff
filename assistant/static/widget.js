/*
 * Tenor support widget. Embed with one tag:
 *
 *   <script src="https://HOST/widget.js" data-model="PROFILE" data-key="PUBLISHABLE_KEY" defer></script>
 *
 * Optional attributes: data-title, data-greeting, data-color (accent colour),
 * data-position ("right" | "left"), data-open ("true" to start open),
 * data-handoff (a "talk to a person" URL; default: the profile's handoff_url),
 * data-max-tokens (longest answer, in tokens; default: the server's).
 * Or from JS, after the script ran: Tenor.configure({title, greeting, color, position,
 * handoffUrl, maxTokens}), Tenor.open(), Tenor.close(), Tenor.reset() (new conversation).
 *
 * Everything lives in a shadow root: no CSS leaks in or out of the host page.
 * The conversation is kept in sessionStorage (this browser tab only).
 */
(function () {
  "use strict";
  if (window.Tenor && window.Tenor.__loaded) return;

  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var server = script ? new URL(script.src, location.href).origin : location.origin;
  var options = {
    model: data.model || "",
    key: data.key || "",
    title: data.title || "Support",
    greeting: data.greeting || "Hi! Ask me anything about our products and policies.",
    color: data.color || "#1f6feb",
    position: data.position === "left" ? "left" : "right",
    handoffUrl: data.handoff || null,
    maxTokens: data.maxTokens ? Number(data.maxTokens) : null,
  };
  var storageKey = "tenor-widget:" + server + ":" + options.model;

  var CSS = [
    ":host{all:initial}",
    "[hidden]{display:none!important}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher{position:fixed;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;",
    "background:var(--accent);color:#fff;display:flex;align-items:center;justify-content:center;padding:0;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}",
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}",
    ".panel{position:fixed;bottom:88px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);",
    "background:#fff;color:#1d1d1f;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;",
    "overflow:hidden;z-index:2147483000;font-size:15px;line-height:1.4}",
    ".panel[hidden]{display:none}",
    ".right{right:20px}.left{left:20px}",
    "header{background:var(--accent);color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}",
    "header h2{font-size:16px;margin:0;flex:1;font-weight:600}",
    "header button{background:transparent;border:1px solid rgba(255,255,255,.6);color:#fff;border-radius:8px;padding:4px 8px;cursor:pointer;font-size:13px}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;background:#f6f7f9}",
    ".msg{max-width:88%;padding:9px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word}",
    ".user{align-self:flex-end;background:var(--accent);color:#fff;border-bottom-right-radius:4px}",
    ".assistant{align-self:flex-start;background:#fff;border:1px solid #e1e4e8;border-bottom-left-radius:4px}",
    ".marker{color:var(--accent);font-weight:600;text-decoration:none;font-size:12px;vertical-align:super}",
    ".sources{margin-top:8px;display:flex;flex-direction:column;gap:4px;font-size:13px}",
    ".sources details{background:#f6f7f9;border-radius:8px;padding:4px 8px}",
    ".sources summary{cursor:pointer;color:#444}",
    ".sources p{margin:6px 0 2px;color:#333;white-space:pre-wrap}",
    ".sources a{color:inherit;font-weight:600}",
    ".feedback{margin-top:6px;display:flex;gap:6px;align-items:center;font-size:13px;color:#555}",
    ".feedback button{background:none;border:1px solid #c9ced6;border-radius:8px;padding:2px 8px;cursor:pointer}",
    ".feedback textarea{flex:1;height:34px;font-size:13px}",
    ".typing{align-self:flex-start;color:#666;font-style:italic;font-size:13px}",
    ".error{align-self:stretch;background:#fff4f4;border:1px solid #f1b7b7;color:#8a1f1f;border-radius:10px;padding:8px 10px;font-size:13px}",
    ".error button{margin-left:8px;background:#8a1f1f;color:#fff;border:0;border-radius:6px;padding:3px 8px;cursor:pointer}",
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e1e4e8;background:#fff}",
    "textarea{flex:1;resize:none;border:1px solid #c9ced6;border-radius:10px;padding:8px 10px;font-size:15px;height:42px;color:#1d1d1f}",
    "form button{background:var(--accent);color:#fff;border:0;border-radius:10px;padding:0 14px;font-size:15px;cursor:pointer}",
    "form button:disabled{opacity:.5;cursor:default}",
    ".handoff{display:block;text-align:center;font-size:13px;padding:6px;color:var(--accent);background:#fff}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}",
    "@media (max-width:480px){.panel{left:0;right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}",
    ".launcher{bottom:14px}.launcher[aria-expanded=true]{display:none}}",
  ].join("");

  var ICON = '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false">' +
    '<path fill="currentColor" d="M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z"/></svg>';

  // -- state ------------------------------------------------------------------
  var state = load() || { messages: [], open: false }; // messages: [{role, content, citations?}]
  var busy = false;
  var lastQuestion = null;

  function load() {
    try { return JSON.parse(sessionStorage.getItem(storageKey)); } catch (e) { return null; }
  }
  function save() {
    try { sessionStorage.setItem(storageKey, JSON.stringify(state)); } catch (e) { /* private mode: keep in memory */ }
  }

  // -- DOM --------------------------------------------------------------------
  var host = document.createElement("div");
  host.setAttribute("data-tenor-widget", "");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    "<style>" + CSS + "</style>" +
    '<button class="launcher" type="button" aria-haspopup="dialog" aria-expanded="false"></button>' +
    '<section class="panel" role="dialog" aria-modal="false" hidden>' +
    "<header><h2></h2>" +
    '<button type="button" class="new" aria-label="Start a new conversation">New</button>' +
    '<button type="button" class="close" aria-label="Close chat">&#x2715;</button></header>' +
    '<div class="log" role="log" aria-live="polite" aria-relevant="additions text"></div>' +
    '<a class="handoff" target="_blank" rel="noopener" hidden>Talk to a person</a>' +
    '<form><label class="sr" for="tenor-input">Your question</label>' +
    '<textarea id="tenor-input" rows="1" placeholder="Ask a question…"></textarea>' +
    '<button type="submit" aria-label="Send">Send</button></form></section>';

  var launcher = root.querySelector(".launcher");
  var panel = root.querySelector(".panel");
  var log = root.querySelector(".log");
  var form = root.querySelector("form");
  var input = root.querySelector("textarea");
  var send = root.querySelector("form button");
  var handoff = root.querySelector(".handoff");

  function applyOptions() {
    host.style.setProperty("--accent", options.color);
    launcher.className = "launcher " + options.position;
    panel.className = "panel " + options.position;
    root.querySelector("h2").textContent = options.title;
    panel.setAttribute("aria-label", options.title + " chat");
    launcher.setAttribute("aria-label", (panel.hidden ? "Open " : "Close ") + options.title + " chat");
    launcher.innerHTML = ICON;
    if (options.handoffUrl) {
      handoff.href = options.handoffUrl;
      handoff.hidden = false;
    }
  }

  function open(quietly) {
    panel.hidden = false;
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", "Close " + options.title + " chat");
    state.open = true;
    save();
    log.scrollTop = log.scrollHeight;
    if (quietly !== true) input.focus();
  }
  function close() {
    panel.hidden = true;
    launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", "Open " + options.title + " chat");
    state.open = false;
    save();
    launcher.focus();
  }
  function reset() {
    if (busy) return;
    state = { messages: [], open: !panel.hidden };
    save();
    render();
    input.focus();
  }

  // -- rendering --------------------------------------------------------------
  function bubble(role, text) {
    var node = document.createElement("div");
    node.className = "msg " + role;
    node.setAttribute("data-role", role);
    node.textContent = text;
    log.appendChild(node);
    return node;
  }

  function renderAssistant(node, message) {
    // Text with [n] markers turned into links to the matching source card.
    node.textContent = "";
    var citations = message.citations || [];
    var parts = message.content.split(/(\[\d{1,2}\])/);
    parts.forEach(function (part) {
      var m = /^\[(\d{1,2})\]$/.exec(part);
      var cited = m && citations.some(function (c) { return c.index === Number(m[1]); });
      if (cited) {
        var a = document.createElement("a");
        a.className = "marker";
        a.href = "#";
        a.textContent = part;
        a.setAttribute("aria-label", "source " + m[1]);
        a.addEventListener("click", function (e) {
          e.preventDefault();
          var card = node.querySelector('details[data-index="' + m[1] + '"]');
          if (card) { card.open = true; card.querySelector("summary").focus(); }
        });
        node.appendChild(a);
      } else {
        node.appendChild(document.createTextNode(part));
      }
    });
    if (citations.length) {
      var sources = document.createElement("div");
      sources.className = "sources";
      sources.setAttribute("aria-label", "Sources");
      citations.forEach(function (c) {
        var card = document.createElement("details");
        card.setAttribute("data-index", String(c.index));
        card.className = "source";
        var summary = document.createElement("summary");
        var where = c.section ? " \u203A " + c.section : c.page ? " \u203A page " + c.page : "";
        summary.textContent = "[" + c.index + "] " + c.document_id + where;
        var text = document.createElement("p");
        text.textContent = c.text;
        card.appendChild(summary);
        card.appendChild(text);
        if (c.url && /^https?:\/\//i.test(c.url)) {
          var link = document.createElement("a");
          link.href = c.url;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          link.textContent = "Open the page";
          card.appendChild(link);
        }
        sources.appendChild(card);
      });
      node.appendChild(sources);
    }
    if (message.id) node.appendChild(feedbackBar(message));
  }

  // Thumbs under an answer; a thumbs-down asks what was wrong. Sent to /v1/feedback.
  function feedbackBar(message) {
    var bar = document.createElement("div");
    bar.className = "feedback";
    function thanks() {
      bar.textContent = "Thanks for your feedback.";
    }
    if (message.rating) { thanks(); return bar; }
    function rate(rating, comment) {
      message.rating = rating;
      save();
      thanks();
      fetch(server + "/v1/feedback", {
        method: "POST", headers: headers(),
        body: JSON.stringify({ response_id: message.id, rating: rating, comment: comment || undefined }),
      }).catch(function () { /* feedback is best effort */ });
    }
    function thumb(label, symbol, onClick) {
      var b = document.createElement("button");
      b.type = "button";
      b.setAttribute("aria-label", label);
      b.textContent = symbol;
      b.addEventListener("click", onClick);
      bar.appendChild(b);
    }
    thumb("Helpful", "\uD83D\uDC4D", function () { rate("up"); });
    thumb("Not helpful", "\uD83D\uDC4E", function () {
      bar.textContent = "";
      var why = document.createElement("textarea");
      why.setAttribute("aria-label", "What was wrong?");
      why.placeholder = "What was wrong?";
      var submit = document.createElement("button");
      submit.type = "button";
      submit.textContent = "Send feedback";
      submit.addEventListener("click", function () { rate("down", why.value.trim()); });
      bar.appendChild(why);
      bar.appendChild(submit);
      why.focus();
    });
    return bar;
  }

  function render() {
    log.textContent = "";
    bubble("assistant", options.greeting).classList.add("greeting");
    state.messages.forEach(function (m) {
      var node = bubble(m.role, m.content);
      if (m.role === "assistant") renderAssistant(node, m);
    });
    var last = state.messages[state.messages.length - 1];
    if (last && last.role === "user" && !busy) {  // the page was left while an answer streamed
      lastQuestion = last.content;
      showError("The answer was interrupted.", true);
    }
    log.scrollTop = log.scrollHeight;
  }

  function showError(text, retry) {
    var box = document.createElement("div");
    box.className = "error";
    box.setAttribute("role", "alert");
    box.textContent = text;
    if (retry) {
      var again = document.createElement("button");
      again.type = "button";
      again.textContent = "Retry";
      again.addEventListener("click", function () { box.remove(); ask(lastQuestion, true); });
      box.appendChild(again);
    }
    log.appendChild(box);
    log.scrollTop = log.scrollHeight;
  }

  // -- talking to the server ----------------------------------------------------
  function headers() {
    var h = { "Content-Type": "application/json" };
    if (options.key) h.Authorization = "Bearer " + options.key;
    return h;
  }

  function errorText(status, body, wait) {
    var message = body && body.error && body.error.message;
    if (status === 429) return "Too many questions at once. Please wait " + (wait ? wait + " seconds" : "a moment") + " and try again.";
    if (status === 503 || status === 502 || status === 504) return "The assistant is unavailable right now. Please try again shortly.";
    if (status === 401 || status === 403) return "This chat is not available on this site." + (message ? " (" + message + ")" : "");
    return message || "Something went wrong (HTTP " + status + ").";
  }

  function ask(question, isRetry) {
    if (busy || !question) return;
    busy = true;
    send.disabled = true;
    lastQuestion = question;
    if (!isRetry) {
      state.messages.push({ role: "user", content: question });
      save();
      bubble("user", question);
    }
    var typing = document.createElement("div");
    typing.className = "typing";
    typing.textContent = options.title + " is typing…";
    log.appendChild(typing);
    log.scrollTop = log.scrollHeight;

    var answer = { role: "assistant", content: "", citations: [] };
    var node = null;
    // The last 40 messages: the server's widget cap (server.widget_max_request_messages) is 100.
    var history = state.messages.slice(-40).map(function (m) { return { role: m.role, content: m.content }; });

    fetch(server + "/v1/chat/completions", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ model: options.model, messages: history, stream: true,
                             max_tokens: options.maxTokens || undefined }),
    }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return null; }).then(function (body) {
          var err = new Error(errorText(response.status, body, response.headers.get("Retry-After")));
          err.retry = response.status >= 500 || response.status === 429;
          throw err;
        });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var finished = false; // the server's "data: [DONE]" arrived
      function pump() {
        return reader.read().then(function (step) {
          if (step.done) {
            if (finished) return;
            var cut = new Error("The answer was interrupted.");
            cut.retry = true;
            throw cut;
          }
          buffer += decoder.decode(step.value, { stream: true });
          var events = buffer.split("\n\n");
          buffer = events.pop();
          events.forEach(function (event) {
            event.split("\n").forEach(function (line) {
              if (line.indexOf("data:") !== 0) return;
              var payload = line.slice(5).trim();
              if (payload === "[DONE]") finished = true;
              if (!payload || finished) return;
              var chunk = JSON.parse(payload);
              if (chunk.error) {
                var err = new Error(chunk.error.message || "The answer was interrupted.");
                err.retry = true;
                throw err;
              }
              if (chunk.id && !answer.id) answer.id = chunk.id;  // what feedback refers to
              if (chunk.citations) answer.citations = chunk.citations;
              var delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
              if (delta && delta.content) {
                if (!node) { typing.remove(); node = bubble("assistant", ""); }
                answer.content += delta.content;
                node.textContent = answer.content;
                log.scrollTop = log.scrollHeight;
              }
            });
          });
          return pump();
        });
      }
      return pump();
    }).then(function () {
      typing.remove();
      if (!node) node = bubble("assistant", "");
      renderAssistant(node, answer);
      state.messages.push(answer);
      save();
    }).catch(function (err) {
      typing.remove();
      if (node) node.remove();
      var network = err instanceof TypeError; // fetch() rejects with TypeError when offline
      showError(network ? "Network problem: the answer did not arrive." : err.message,
                network || err.retry);
    }).then(function () {
      busy = false;
      send.disabled = false;
      log.scrollTop = log.scrollHeight;
    });
  }

  // -- events -----------------------------------------------------------------
  launcher.addEventListener("click", function () { panel.hidden ? open() : close(); });
  root.querySelector(".close").addEventListener("click", close);
  root.querySelector(".new").addEventListener("click", reset);
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var question = input.value.trim();
    if (!question || busy) return;
    input.value = "";
    ask(question, false);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });

  function fetchProfile() {
    // The profile's hand-off URL (and title) come from the server, unless set on the tag.
    if (!options.model || options.handoffUrl) return;
    fetch(server + "/v1/models/" + encodeURIComponent(options.model), { headers: headers() })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (card) {
        if (card && card.handoff_url && !options.handoffUrl) { options.handoffUrl = card.handoff_url; applyOptions(); }
      })
      .catch(function () { /* the chat still works without it */ });
  }

  function mount() {
    document.body.appendChild(host);
    applyOptions();
    render();
    fetchProfile();
    if (data.open === "true" || state.open) open(true);
  }

  window.Tenor = {
    __loaded: true,
    open: function () { open(); },
    close: close,
    reset: reset,
    configure: function (changes) {
      Object.keys(changes || {}).forEach(function (k) { if (k in options) options[k] = changes[k]; });
      applyOptions();
      render();
    },
  };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
