// The web UI served at "/": one self-contained page (HTML, CSS, JS; no build
// step, no CDN, works offline) compiled into the binary. It chats through
// POST /v1/chat/completions with streaming, keeps the system prompt,
// temperature and max tokens, exports the conversation as a JSONL line in the
// format `masque sft` reads (docs/chat-format.md), and, for each vector of
// GET /v1/vectors, shows a live meter bar, colours the reply's tokens by
// their projection and offers a steering slider for the next reply.
#include "serve/http_server.h"

namespace masque::serve {
namespace {

constexpr std::string_view kPage = R"PAGE(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>masque</title>
<style>
  :root { --bg:#f6f5f2; --panel:#fff; --ink:#1d1d1f; --muted:#6b6b70; --line:#ddd9d0; --accent:#3a5f8f; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.45 system-ui, sans-serif; background:var(--bg); color:var(--ink);
         display:grid; grid-template-columns: 300px 1fr; height:100vh; }
  aside { border-right:1px solid var(--line); padding:14px; overflow:auto; background:var(--panel); }
  main { display:flex; flex-direction:column; height:100vh; }
  h1 { font-size:18px; margin:0 0 10px; } h2 { font-size:13px; text-transform:uppercase;
       letter-spacing:.05em; color:var(--muted); margin:18px 0 6px; }
  label { display:block; font-size:13px; color:var(--muted); margin-top:8px; }
  textarea, input[type=text], input[type=password], input[type=number] { width:100%; font:inherit;
       padding:6px; border:1px solid var(--line); border-radius:6px; background:#fff; }
  button { font:inherit; padding:6px 12px; border-radius:6px; border:1px solid var(--accent);
           background:var(--accent); color:#fff; cursor:pointer; }
  button.secondary { background:#fff; color:var(--accent); }
  button:disabled { opacity:.5; cursor:default; }
  #log { flex:1; overflow:auto; padding:18px; }
  .msg { max-width:760px; margin:0 0 12px; padding:10px 12px; border-radius:10px; white-space:pre-wrap;
         word-wrap:break-word; }
  .msg.user { background:#e4ebf5; margin-left:auto; }
  .msg.assistant { background:var(--panel); border:1px solid var(--line); }
  .msg.error { background:#fbe3e3; border:1px solid #e0a0a0; }
  .role { font-size:11px; color:var(--muted); display:block; margin-bottom:2px; }
  form { display:flex; gap:8px; padding:12px 18px; border-top:1px solid var(--line); background:var(--panel); }
  #input { flex:1; resize:vertical; min-height:44px; }
  .meter { margin:8px 0 12px; } .meter .name { font-size:13px; display:flex; justify-content:space-between; }
  .track { position:relative; height:12px; background:#eee; border-radius:6px; overflow:hidden; }
  .meter-bar { position:absolute; top:0; bottom:0; left:50%; width:0; background:#c0392b; transition:all .15s; }
  .meter-bar.neg { background:#2e86c1; }
  .track::after { content:""; position:absolute; left:50%; top:0; bottom:0; width:1px; background:#999; }
  input[type=range] { width:100%; }
  #status { font-size:12px; color:var(--muted); margin-top:10px; }
  .tok { border-radius:3px; }
</style></head>
<body>
<aside>
  <h1>masque</h1>
  <div id="model" style="font-size:13px;color:var(--muted)">…</div>
  <h2>Settings</h2>
  <label for="system">System prompt</label>
  <textarea id="system" rows="3" placeholder="You are a helpful assistant."></textarea>
  <label for="temperature">Temperature <span id="temperature-value">0.7</span></label>
  <input id="temperature" type="range" min="0" max="2" step="0.05" value="0.7">
  <label for="max-tokens">Max tokens</label>
  <input id="max-tokens" type="number" min="1" value="128">
  <label for="api-key">API key (if the server needs one)</label>
  <input id="api-key" type="password" autocomplete="off">
  <h2>Persona meter</h2>
  <div id="meter"><div style="font-size:13px;color:var(--muted)">No vectors loaded (start the server with --vector NAME=FILE).</div></div>
  <h2>Conversation</h2>
  <button id="new-chat" class="secondary" type="button">New chat</button>
  <button id="export" class="secondary" type="button">Export JSONL</button>
  <div id="status"></div>
</aside>
<main>
  <div id="log"></div>
  <form id="composer">
    <textarea id="input" rows="2" placeholder="Message (Enter to send, Shift+Enter for a new line)"></textarea>
    <button id="send" type="submit">Send</button>
    <button id="stop" type="button" class="secondary" disabled>Stop</button>
  </form>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const state = { messages: [], vectors: [], controller: null };
const keyInput = $("api-key");
keyInput.value = localStorage.getItem("masque-api-key") || "";
keyInput.addEventListener("change", () => { localStorage.setItem("masque-api-key", keyInput.value); init(); });
$("temperature").addEventListener("input", () => { $("temperature-value").textContent = $("temperature").value; });

function headers() {
  const h = { "Content-Type": "application/json" };
  if (keyInput.value) h["Authorization"] = "Bearer " + keyInput.value;
  return h;
}
function status(text) { $("status").textContent = text; }

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const tag = document.createElement("span");
  tag.className = "role"; tag.textContent = role;
  const body = document.createElement("span");
  body.className = "body"; body.textContent = text;
  div.append(tag, body);
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
  return body;
}

// Meter: one bar and one steering slider per vector.
function buildMeter() {
  const meter = $("meter");
  if (!state.vectors.length) return;
  meter.innerHTML = "";
  for (const v of state.vectors) {
    const box = document.createElement("div");
    box.className = "meter"; box.dataset.vector = v.id;
    box.innerHTML = `<div class="name"><span>${escapeHtml(v.id)} (layer ${v.default_layer})</span>
      <span class="value">0.00</span></div>
      <div class="track"><div class="meter-bar"></div></div>
      <label>steer <span class="coef">0.0</span></label>
      <input type="range" class="steer" min="-4" max="4" step="0.1" value="0">`;
    const slider = box.querySelector(".steer");
    slider.addEventListener("input", () => { box.querySelector(".coef").textContent = Number(slider.value).toFixed(1); });
    meter.append(box);
  }
}
function escapeHtml(s) { return s.replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;","'":"&#39;"}[c])); }
const scale = { max: 1 };
function setBar(name, value) {
  const box = document.querySelector(`.meter[data-vector="${CSS.escape(name)}"]`);
  if (!box) return;
  scale.max = Math.max(scale.max, Math.abs(value));
  const frac = Math.min(1, Math.abs(value) / scale.max) * 50;
  const bar = box.querySelector(".meter-bar");
  bar.classList.toggle("neg", value < 0);
  bar.style.left = (value < 0 ? 50 - frac : 50) + "%";
  bar.style.width = frac + "%";
  box.querySelector(".value").textContent = value.toFixed(2);
}
function tokenColour(value) {
  const a = Math.min(1, Math.abs(value) / scale.max) * 0.45;
  return value >= 0 ? `rgba(192,57,43,${a})` : `rgba(46,134,193,${a})`;
}

async function init() {
  try {
    const models = await fetch("/v1/models", { headers: headers() });
    if (models.ok) {
      const m = (await models.json()).data[0];
      $("model").textContent = `model ${m.id}, context ${m.meta.n_ctx}`;
    } else {
      $("model").textContent = models.status === 401 ? "API key needed" : "server not ready";
    }
    const vectors = await fetch("/v1/vectors", { headers: headers() });
    if (vectors.ok) { state.vectors = (await vectors.json()).data; buildMeter(); }
  } catch (e) { $("model").textContent = "server unreachable"; }
}

async function send(text) {
  const system = $("system").value.trim();
  state.messages.push({ role: "user", content: text });
  addMessage("user", text);
  const body = addMessage("assistant", "");
  const messages = (system ? [{ role: "system", content: system }] : []).concat(state.messages);
  const request = {
    model: "masque", messages, stream: true, stream_options: { include_usage: true },
    temperature: Number($("temperature").value), max_tokens: Number($("max-tokens").value) || 128,
  };
  if (state.vectors.length) {
    const steer = [];
    for (const box of document.querySelectorAll(".meter")) {
      const c = Number(box.querySelector(".steer").value);
      if (c !== 0) steer.push({ vector: box.dataset.vector, coefficient: c });
    }
    request.masque = { monitor: state.vectors.map((v) => v.id), steer };
  }
  $("send").disabled = true; $("stop").disabled = false;
  state.controller = new AbortController();
  let reply = "", sums = {}, count = 0, started = performance.now();
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: headers(),
      body: JSON.stringify(request), signal: state.controller.signal });
    if (!res.ok) {
      const err = await res.json().catch(() => ({ error: { message: res.statusText } }));
      throw new Error(err.error ? err.error.message : res.statusText);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    outer: while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") break outer;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        if (chunk.usage) status(`${chunk.usage.completion_tokens} tokens in ${((performance.now() - started) / 1000).toFixed(1)} s`);
        const choice = chunk.choices && chunk.choices[0];
        const piece = choice && choice.delta && choice.delta.content ? choice.delta.content : "";
        const proj = chunk.masque ? chunk.masque.projections : null;
        let first = null;
        if (proj) {
          count += 1;
          for (const [name, values] of Object.entries(proj)) {
            sums[name] = (sums[name] || 0) + values[0];
            setBar(name, sums[name] / count);
            if (first === null) first = values[0];
          }
        }
        if (piece) {
          reply += piece;
          const span = document.createElement("span");
          span.className = "tok"; span.textContent = piece;
          if (first !== null) { span.style.background = tokenColour(first); span.title = first.toFixed(3); }
          body.append(span);
          $("log").scrollTop = $("log").scrollHeight;
        }
      }
    }
    state.messages.push({ role: "assistant", content: reply });
  } catch (e) {
    if (reply) state.messages.push({ role: "assistant", content: reply });
    else state.messages.pop();
    if (e.name !== "AbortError") addMessage("error", String(e.message || e));
  } finally {
    $("send").disabled = false; $("stop").disabled = true; state.controller = null;
  }
}

$("composer").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("input").value.trim();
  if (!text || state.controller) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("composer").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });
$("new-chat").addEventListener("click", () => { state.messages = []; $("log").innerHTML = ""; status(""); });
// One line {"messages": [...]}: the JSONL format `masque sft` reads.
$("export").addEventListener("click", () => {
  const system = $("system").value.trim();
  const messages = (system ? [{ role: "system", content: system }] : []).concat(state.messages);
  const blob = new Blob([JSON.stringify({ messages }) + "\n"], { type: "application/jsonl" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = "conversation.jsonl"; a.click();
  URL.revokeObjectURL(a.href);
});
init();
</script>
</body></html>
)PAGE";

}  // namespace

std::string_view web_ui_html() { return kPage; }

}  // namespace masque::serve
