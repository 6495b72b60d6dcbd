// todo-chatbot web UI: plain JavaScript, no build step. Talks only to its own origin (/api/*).
"use strict";

const SESSION_KEY = "todo-chatbot.session";
const $ = (id) => document.getElementById(id);

// The task list is read a page at a time (TASK_PAGE), however many tasks an account holds;
// `next` is where the following page starts (X-Next-Cursor), null on the last.
const TASK_PAGE = 50;
const state = {
  token: null, user: null, conversation: null,
  shown: [], matching: 0, next: null, pending: 0, done: 0, filtered: false,
};

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, message, conversationId) {
    super(message);
    this.status = status;
    this.code = code;
    // A chat that failed after its message was stored says where it was stored.
    this.conversationId = conversationId ?? null;
  }
}

async function api(method, path, body) {
  return (await apiResponse(method, path, body)).data;
}

// The body and the response, for callers that read headers (X-Total-Count).
async function apiResponse(method, path, body) {
  const headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (state.token) headers.authorization = `Bearer ${state.token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  if (response.status === 204) return { data: null, response };
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data && data.error ? data.error : { code: "http_" + response.status, message: response.statusText };
    if (response.status === 401 && state.token) signOut("Your session has ended. Please sign in again.");
    throw new ApiError(response.status, error.code, error.message, error.conversation_id);
  }
  return { data, response };
}

const displayName = () => state.user.name || state.user.email || "there";
const userPath = (rest) => `/api/${encodeURIComponent(state.user.id)}${rest}`;
// The browser's IANA zone, so "tomorrow" and "Friday 5pm" mean the user's; UTC if unknown.
const userTimeZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

// ---------- session ----------

function saveSession(session) {
  state.token = session.token;
  state.user = session.user;
  localStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

// Trades the token for a fresh one (and the current user's details).
// An external provider's token is renewed by that provider: keep it and just read the user.
async function renewSession() {
  try {
    const session = await api("POST", "/api/auth/renew");
    saveSession({ token: session.token, user: session.user });
  } catch (error) {
    if (error.status !== 400) throw error;
    saveSession({ token: state.token, user: await api("GET", "/api/auth/me") });
  }
}

// While the page stays open, renew every hour: a day-long token never runs out under a user.
setInterval(() => {
  if (state.token) renewSession().catch(() => {});
}, 60 * 60 * 1000);

function signOut(message) {
  localStorage.removeItem(SESSION_KEY);
  Object.assign(state, { token: null, user: null, conversation: null, shown: [], next: null });
  $("messages").replaceChildren();
  $("task-list").replaceChildren();
  $("conversation-list").replaceChildren();
  showAuth(message || "");
}

function showAuth(message) {
  $("app").hidden = true;
  $("auth").hidden = false;
  $("auth-error").textContent = message;
  $("sign-in-email").focus();
}

async function showApp() {
  $("auth").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `Signed in as ${displayName()}`;
  startConversation();
  await Promise.all([refreshTasks(), refreshConversations()]);
  $("chat-input").focus();
}

function selectTab(which) {
  const signIn = which === "sign-in";
  $("tab-sign-in").setAttribute("aria-selected", String(signIn));
  $("tab-sign-up").setAttribute("aria-selected", String(!signIn));
  $("sign-in-form").hidden = !signIn;
  $("sign-up-form").hidden = signIn;
  $("auth-error").textContent = "";
  (signIn ? $("sign-in-email") : $("sign-up-name")).focus();
}

async function submitAuth(event, path, fields) {
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button[type=submit]");
  const body = Object.fromEntries(fields.map((f) => [f, form.elements[f].value]));
  button.disabled = true;
  try {
    saveSession(await api("POST", path, body));
    form.reset();
    await showApp();
  } catch (error) {
    $("auth-error").textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// ---------- chat ----------

function chipsFor(toolCalls) {
  const chips = document.createElement("div");
  chips.className = "chips";
  for (const call of toolCalls || []) {
    const chip = document.createElement("span");
    chip.className = "chip " + (call.is_error ? "failed" : "ok");
    chip.textContent = call.name;
    chip.title = JSON.stringify(call.arguments);
    chips.append(chip);
  }
  return chips;
}

function addMessage(role, text, toolCalls) {
  const item = document.createElement("li");
  item.className = `message ${role}`;
  const label = document.createElement("span");
  label.className = "visually-hidden";
  label.textContent = role === "user" ? "You: " : role === "assistant" ? "Assistant: " : "Error: ";
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  item.append(label, body);
  if (toolCalls && toolCalls.length) item.append(chipsFor(toolCalls));
  $("messages").append(item);
  item.scrollIntoView({ block: "end" });
  return item;
}

function startConversation() {
  state.conversation = null;
  $("messages").replaceChildren();
  addMessage("assistant", `Hi ${displayName()}! Tell me what to add, or ask “what’s pending?”.`);
  markCurrentConversation();
}

async function sendMessage(event) {
  event.preventDefault();
  const input = $("chat-input");
  const message = input.value.trim();
  if (!message) return;
  input.value = "";
  addMessage("user", message);
  const button = $("chat-form").querySelector("button");
  button.disabled = true;
  $("pending").hidden = false;
  $("messages").setAttribute("aria-busy", "true");
  try {
    const reply = await api("POST", userPath("/chat"), {
      message,
      time_zone: userTimeZone(),
      ...(state.conversation ? { conversation_id: state.conversation } : {}),
    });
    state.conversation = reply.conversation_id;
    addMessage("assistant", reply.response, reply.tool_calls);
    await Promise.all([refreshTasks(), refreshConversations()]);
  } catch (error) {
    addMessage("error", error.message);
    if (error.conversationId) {
      // The message is kept there: the next one continues that conversation.
      state.conversation = error.conversationId;
      await refreshConversations();
    }
  } finally {
    button.disabled = false;
    $("pending").hidden = true;
    $("messages").removeAttribute("aria-busy");
    input.focus();
  }
}

async function refreshConversations() {
  const list = $("conversation-list");
  try {
    const conversations = await api("GET", userPath("/conversations"));
    list.replaceChildren(
      ...conversations.map((c) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = c.title || `Conversation ${c.id}`;
        button.dataset.id = c.id;
        button.addEventListener("click", () => openConversation(c.id));
        item.append(button);
        return item;
      }),
    );
    markCurrentConversation();
  } catch (error) {
    if (error.status !== 401) console.warn("conversations:", error.message);
  }
}

function markCurrentConversation() {
  for (const button of $("conversation-list").querySelectorAll("button")) {
    button.setAttribute("aria-current", String(Number(button.dataset.id) === state.conversation));
  }
}

async function openConversation(id) {
  try {
    const messages = await api("GET", userPath(`/conversations/${id}/messages`));
    state.conversation = id;
    $("messages").replaceChildren();
    for (const m of messages) addMessage(m.role, m.content, m.tool_calls);
    markCurrentConversation();
    $("chat-input").focus();
  } catch (error) {
    addMessage("error", error.message);
  }
}

// ---------- tasks ----------

// The task panel's filters as the list API's parameters; none set lists every task.
function filterParams() {
  const params = new URLSearchParams();
  const q = $("filter-q").value.trim();
  if (q) params.set("q", q);
  const tag = $("filter-tag").value.trim().replace(/^#/, "").toLowerCase();
  if (tag) params.set("tag", tag);
  for (const [id, name] of [["filter-status", "status"], ["filter-priority", "priority"], ["filter-sort", "sort"]]) {
    if ($(id).value) params.set(name, $(id).value);
  }
  if ($("filter-overdue").checked) params.set("overdue", "true");
  return params;
}

const totalOf = (page) => Number(page.response.headers.get("x-total-count") ?? page.data.length);

// The first page of what the filters ask for, and the pending and done counts (each a one-task
// page read for its X-Total-Count): three small requests, whatever the account holds.
async function refreshTasks() {
  try {
    const params = filterParams();
    state.filtered = [...params.keys()].length > 0;
    params.set("limit", String(TASK_PAGE));
    const [page, pending, done] = await Promise.all([
      apiResponse("GET", userPath(`/tasks?${params}`)),
      apiResponse("GET", userPath("/tasks?status=pending&limit=1")),
      apiResponse("GET", userPath("/tasks?status=completed&limit=1")),
    ]);
    state.shown = page.data;
    state.matching = totalOf(page);
    state.next = page.response.headers.get("x-next-cursor");
    state.pending = totalOf(pending);
    state.done = totalOf(done);
    renderTasks();
    $("task-error").textContent = "";
  } catch (error) {
    $("task-error").textContent = error.message;
  }
}

// The next page, appended: its cursor carries the sort and the place, the filters still apply.
async function moreTasks() {
  if (!state.next) return;
  try {
    const params = filterParams();
    params.set("limit", String(TASK_PAGE));
    params.set("cursor", state.next);
    const page = await apiResponse("GET", userPath(`/tasks?${params}`));
    state.shown = state.shown.concat(page.data);
    state.next = page.response.headers.get("x-next-cursor");
    renderTasks();
  } catch (error) {
    $("task-error").textContent = error.message;
  }
}

function renderTasks() {
  $("task-counts").textContent = `(${state.pending} pending, ${state.done} done)`;
  $("task-shown").textContent =
    state.filtered && state.matching === 0
      ? "No tasks match these filters."
      : state.filtered || state.next
        ? `Showing ${state.shown.length} of ${state.matching} ${state.filtered ? "matching " : ""}tasks.`
        : "";
  $("task-list").replaceChildren(...state.shown.map(taskItem));
  $("task-more").hidden = !state.next;
}

const DUE_FORMAT = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short" });
const DUE_TIME_FORMAT = new Intl.DateTimeFormat(undefined, {
  weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
});

// Priority badge, tag chips (each filters by its tag) and the due date, overdue in red.
function taskMeta(task) {
  const meta = document.createElement("div");
  meta.className = "meta";
  if (task.priority && task.priority !== "medium") {
    const badge = document.createElement("span");
    badge.className = `badge ${task.priority}`;
    badge.textContent = task.priority === "high" ? "High priority" : "Low priority";
    meta.append(badge);
  }
  for (const tag of task.tags ?? []) {
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "tag";
    chip.textContent = `#${tag}`;
    chip.setAttribute("aria-label", `Show tasks tagged ${tag}`);
    chip.addEventListener("click", () => {
      $("filter-tag").value = tag;
      refreshTasks();
    });
    meta.append(chip);
  }
  if (task.due_at) {
    const due = new Date(task.due_at);
    const time = document.createElement("time");
    time.dateTime = task.due_at;
    // A due date without a time is stored as the last second of that day.
    const endOfDay = due.getHours() === 23 && due.getMinutes() === 59;
    const when = (endOfDay ? DUE_FORMAT : DUE_TIME_FORMAT).format(due);
    const overdue = !task.completed && due < new Date();
    time.className = "due" + (overdue ? " overdue" : "");
    time.textContent = overdue ? `Overdue: ${when}` : `Due ${when}`;
    meta.append(time);
  }
  return meta.childElementCount ? meta : null;
}

function taskItem(task) {
  const item = document.createElement("li");
  item.className = "task" + (task.completed ? " done" : "");
  item.dataset.id = task.id;
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = task.completed;
  box.id = `task-${task.id}-done`;
  box.setAttribute("aria-label", `${task.completed ? "Reopen" : "Complete"} “${task.title}”`);
  box.addEventListener("change", () => taskAction(() => api("PATCH", userPath(`/tasks/${task.id}/complete`))));
  const title = document.createElement("label");
  title.className = "title";
  title.htmlFor = box.id;
  title.textContent = task.title;
  const id = document.createElement("span");
  id.className = "id";
  id.textContent = `#${task.id}`;
  const edit = document.createElement("button");
  edit.type = "button";
  edit.textContent = "Edit";
  edit.setAttribute("aria-label", `Edit “${task.title}”`);
  edit.addEventListener("click", () => editTask(item, task));
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Delete";
  remove.setAttribute("aria-label", `Delete “${task.title}”`);
  remove.addEventListener("click", () => taskAction(() => api("DELETE", userPath(`/tasks/${task.id}`))));
  item.append(box, title, id, edit, remove);
  const meta = taskMeta(task);
  if (meta) item.append(meta);
  return item;
}

function editTask(item, task) {
  const form = document.createElement("form");
  form.className = "task-form";
  const input = document.createElement("input");
  input.value = task.title;
  input.maxLength = 200;
  input.required = true;
  input.setAttribute("aria-label", `New title for “${task.title}”`);
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", renderTasks);
  form.append(input, save, cancel);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    taskAction(() => api("PUT", userPath(`/tasks/${task.id}`), { title: input.value }));
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") renderTasks();
  });
  item.replaceChildren(form);
  input.focus();
  input.select();
}

async function taskAction(action) {
  try {
    await action();
    $("task-error").textContent = "";
  } catch (error) {
    $("task-error").textContent = error.message;
  }
  await refreshTasks();
}

async function addTask(event) {
  event.preventDefault();
  const input = $("task-title");
  const title = input.value.trim();
  if (!title) return;
  await taskAction(async () => {
    await api("POST", userPath("/tasks"), { title });
    input.value = "";
  });
  input.focus();
}

// ---------- start ----------

async function start() {
  $("tab-sign-in").addEventListener("click", () => selectTab("sign-in"));
  $("tab-sign-up").addEventListener("click", () => selectTab("sign-up"));
  $("sign-in-form").addEventListener("submit", (e) => submitAuth(e, "/api/auth/sign-in", ["email", "password"]));
  $("sign-up-form").addEventListener("submit", (e) =>
    submitAuth(e, "/api/auth/sign-up", ["name", "email", "password"]),
  );
  $("sign-out").addEventListener("click", async () => {
    // Ends the token on the server too, so a copy of it (another tab, a stolen one) stops working.
    await api("POST", "/api/auth/sign-out").catch(() => {});
    signOut();
  });
  $("new-chat").addEventListener("click", () => {
    startConversation();
    $("chat-input").focus();
  });
  $("chat-form").addEventListener("submit", sendMessage);
  $("task-form").addEventListener("submit", addTask);
  let typing;
  $("task-filters").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(refreshTasks, 250);
  });
  // Menus and the checkbox apply at once (and some browsers' automation fires only "change").
  $("task-filters").addEventListener("change", (event) => {
    if (event.target.type === "search" || event.target.id === "filter-tag") return;
    clearTimeout(typing);
    refreshTasks();
  });
  $("task-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    refreshTasks();
  });
  $("task-more").addEventListener("click", moreTasks);
  $("filter-clear").addEventListener("click", () => {
    $("task-filters").reset();
    refreshTasks();
  });

  const saved = localStorage.getItem(SESSION_KEY);
  if (!saved) return showAuth("");
  try {
    const session = JSON.parse(saved);
    state.token = session.token;
    // A fresh token on every visit: tokens live a day, so a user who comes back stays signed in.
    await renewSession();
    await showApp();
  } catch {
    signOut("");
  }
}

start();
