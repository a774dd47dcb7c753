// agentmem inspector: a plain page over the /v1 API. No framework, no CDN.
// Every text from memory is put in the page with textContent, never as HTML.
"use strict";

const state = { key: sessionStorage.getItem("agentmem-key") || "", user: null, active: null };
const $ = (selector) => document.querySelector(selector);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function status(message, isError = false) {
  const line = $("#status");
  line.textContent = message;
  line.classList.toggle("error", isError);
}

async function api(method, path, body) {
  const options = { method, headers: { Authorization: `Bearer ${state.key}` } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(`v1/${path}`, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof data.detail === "string" ? data.detail : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return data;
}

const when = (iso) => (iso ? iso.replace("T", " ").slice(0, 16) : "");
const q = encodeURIComponent;

function confirmAction(text, detail, verb = "Forget") {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  $("#confirm-detail").textContent = detail;
  $("#confirm-yes").textContent = verb;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

async function connect(event) {
  if (event) event.preventDefault();
  state.key = $("#key").value.trim() || state.key;
  sessionStorage.setItem("agentmem-key", state.key);
  try {
    const data = await api("GET", "users");
    const list = $("#users");
    list.replaceChildren();
    for (const user of data.users) {
      list.append(el("li", { "data-user": user, text: user, onclick: () => openUser(user) }));
    }
    status(`connected${data.admin ? " (admin key)" : ""}: ${data.users.length} user${data.users.length === 1 ? "" : "s"}`);
    if (data.users.length && !state.user) await openUser(data.users[0]);
    else if (state.user) await openUser(state.user);
  } catch (error) {
    status(error.message, true);
  }
}

async function openUser(user) {
  state.user = user;
  state.active = null;
  for (const li of document.querySelectorAll("#users li")) {
    li.classList.toggle("selected", li.dataset.user === user);
  }
  $("#workspace").hidden = false;
  $("#user-title").textContent = user;
  $("#timeline").replaceChildren();
  $("#history-of").textContent = "";
  $("#hits").replaceChildren();
  $("#decisions").replaceChildren();
  $("#apply-go").disabled = true;
  await loadMemories();
}

async function loadMemories() {
  const closed = $("#show-closed").checked;
  try {
    const items = await api("GET", `memories?user_id=${q(state.user)}&include_closed=${closed}`);
    const body = $("#memories tbody");
    body.replaceChildren();
    for (const item of items) {
      const open = item.valid_to === null;
      const row = el(
        "tr",
        { "data-id": item.id, className: open ? "open" : "closed" },
        el("td", { className: "when", text: when(item.created_at) }),
        el("td", {}, el("span", { className: "tag", text: item.kind })),
        el("td", { className: "text", text: item.text, title: item.id }),
        el("td", {
          className: "state",
          text: open ? `current · strength ${item.strength.toFixed(2)}` : `closed ${when(item.valid_to)}`,
        }),
        el(
          "td",
          { className: "actions" },
          el("button", { className: "link history", type: "button", text: "history", onclick: () => showHistory(item) }),
          el("button", { className: "link forget", type: "button", text: "forget", onclick: () => forgetOne(item) }),
        ),
      );
      if (item.id === state.active) row.classList.add("active");
      body.append(row);
    }
    const open = items.filter((item) => item.valid_to === null).length;
    $("#memories-count").textContent = `${items.length} memories (${open} current, ${items.length - open} closed)`;
  } catch (error) {
    status(error.message, true);
  }
}

function change(label, values) {
  return values ? el("pre", { text: `${label} ${JSON.stringify(values, null, 1)}` }) : "";
}

async function showHistory(item) {
  state.active = item.id;
  for (const row of document.querySelectorAll("#memories tbody tr")) {
    row.classList.toggle("active", row.dataset.id === item.id);
  }
  $("#history-of").textContent = `of “${item.text.slice(0, 40)}”`;
  try {
    const events = await api("GET", `memories/${q(item.id)}/history`);
    const list = $("#timeline");
    list.replaceChildren();
    for (const event of events) {
      list.append(
        el(
          "li",
          { "data-op": event.op },
          el("span", { className: `tag ${event.op}`, text: event.op }),
          el("span", { className: "muted", text: `${when(event.at)} · event ${event.id}${event.policy ? ` · by ${event.policy}` : ""}` }),
          el("div", { text: event.reason }),
          change("before", event.before),
          change("after", event.after),
        ),
      );
    }
  } catch (error) {
    status(error.message, true);
  }
}

async function forgetOne(item) {
  const ok = await confirmAction("Forget this memory for good?", item.text);
  if (!ok) return status("nothing forgotten");
  try {
    const result = await api("DELETE", `memories/${q(item.id)}`);
    status(`forgot ${result.forgotten} memory`);
    if (state.active === item.id) $("#timeline").replaceChildren();
    await loadMemories();
  } catch (error) {
    status(error.message, true);
  }
}

async function forgetUser() {
  const ok = await confirmAction(`Forget ALL memories of ${state.user} for good?`, "Their audit trail goes too. This cannot be undone.", "Forget all");
  if (!ok) return status("nothing forgotten");
  try {
    const result = await api("DELETE", `users/${q(state.user)}/memories`);
    status(`forgot ${result.forgotten} memories of ${state.user}`);
    await loadMemories();
  } catch (error) {
    status(error.message, true);
  }
}

async function search(event) {
  event.preventDefault();
  const text = $("#search-q").value.trim();
  if (!text) return;
  const k = $("#search-k").value || 5;
  try {
    const hits = await api("GET", `memories/search?user_id=${q(state.user)}&q=${q(text)}&k=${q(k)}&record_access=false`);
    const list = $("#hits");
    list.replaceChildren();
    for (const hit of hits) {
      list.append(
        el(
          "li",
          { "data-id": hit.item.id },
          el("div", { text: hit.item.text }),
          el("span", { className: "tag", text: `score ${hit.score.toFixed(3)}` }),
          el("span", { className: "tag signal", text: `found by ${hit.signal}` }),
          el("span", { className: "tag", text: `store ${hit.store}` }),
        ),
      );
    }
    if (!hits.length) list.append(el("li", { className: "muted", text: "nothing found" }));
  } catch (error) {
    status(error.message, true);
  }
}

function policyBody() {
  const spec = $("#policy-spec").value.trim();
  return spec ? { user_id: state.user, policy: spec } : { user_id: state.user };
}

async function preview(event) {
  event.preventDefault();
  try {
    const result = await api("POST", "policy/preview", policyBody());
    const list = $("#decisions");
    list.replaceChildren();
    for (const decision of result.decisions) {
      const texts = decision.item_ids.map((id) => (result.items[id] ? result.items[id].text : id));
      list.append(
        el(
          "li",
          { "data-action": decision.action },
          el("span", { className: `tag ${decision.action}`, text: decision.action }),
          el("span", { className: "muted", text: `by ${decision.policy}` }),
          el("div", { text: decision.reason }),
          el("pre", { text: texts.join("\n") }),
          Object.keys(decision.changes).length ? change("changes", decision.changes) : "",
        ),
      );
    }
    if (!result.decisions.length) list.append(el("li", { className: "muted", text: "a tick now would change nothing" }));
    $("#apply-go").disabled = !result.decisions.length;
  } catch (error) {
    status(error.message, true);
  }
}

async function applyPolicy() {
  const count = document.querySelectorAll("#decisions li[data-action]").length;
  const ok = await confirmAction(`Apply ${count} decisions to ${state.user}'s memories?`, "Each change is logged and can be undone through /v1/policy/undo.", "Apply");
  if (!ok) return status("nothing applied");
  try {
    const changes = await api("POST", "policy/apply", policyBody());
    status(`applied: ${changes.updated.length} updated, ${changes.forgotten.length} forgotten, ${changes.written.length} written`);
    $("#apply-go").disabled = true;
    $("#decisions").replaceChildren();
    await loadMemories();
  } catch (error) {
    status(error.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login").addEventListener("submit", connect);
  $("#user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const user = $("#user-input").value.trim();
    if (user) openUser(user);
  });
  $("#show-closed").addEventListener("change", loadMemories);
  $("#forget-user").addEventListener("click", forgetUser);
  $("#search-form").addEventListener("submit", search);
  $("#policy-form").addEventListener("submit", preview);
  $("#apply-go").addEventListener("click", applyPolicy);
  if (state.key) connect();
  else status("enter an API key to start");
});
