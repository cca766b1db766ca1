// Chat page: streams /v1/chat/completions (server-sent events) and shows numbered sources.
// A server with an API key answers 401: the page asks for the key once and keeps it in localStorage.
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
const keyForm = document.getElementById("key");
const keyInput = document.getElementById("key-input");
const keyMessage = document.getElementById("key-message");
const KEY_STORAGE = "rag-api-key";
const history = [];
let unanswered = null;  // the question refused for want of a key: asked again once a key is saved

function savedKey() {
  try { return localStorage.getItem(KEY_STORAGE) || ""; } catch (error) { return ""; }  // storage may be off
}

let sessionKey = savedKey();

function saveKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key); else localStorage.removeItem(KEY_STORAGE);
  } catch (error) { /* storage off: the key is not kept past this page */ }
  sessionKey = key;
}

function requestHeaders() {
  const headers = {"Content-Type": "application/json"};
  if (sessionKey) headers.Authorization = "Bearer " + sessionKey;
  return headers;
}

function showKeyForm(message) {
  keyMessage.textContent = message;
  keyForm.hidden = false;
  keyInput.focus();
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

function place(citation) {
  const parts = [citation.source.split("/").slice(-2).join("/")];
  if (citation.section) parts.push(citation.section);
  if (citation.page !== null && citation.page !== undefined) parts.push("page " + citation.page);
  return parts.join(" — ");
}

function showSources(turn, citations) {
  if (!citations.length) return;
  const list = element("ol", "sources");
  for (const citation of citations) {
    const item = element("li");
    const button = element("button", "source", `[${citation.n}] ${citation.title} — ${place(citation)}`);
    button.type = "button";
    button.title = citation.source;
    button.addEventListener("click", () => {
      const open = item.querySelector("blockquote");
      if (open) { open.remove(); return; }
      item.appendChild(element("blockquote", "", citation.text));
    });
    item.appendChild(button);
    list.appendChild(item);
  }
  turn.appendChild(list);
}

async function ask(question) {
  const turn = element("article", "turn");
  turn.appendChild(element("div", "question", question));
  const answer = element("div", "answer", "…");
  turn.appendChild(answer);
  log.appendChild(turn);
  let response;
  try {
    response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: requestHeaders(),
      body: JSON.stringify({model: "rag", stream: true, messages: [...history, {role: "user", content: question}]}),
    });
  } catch (error) {  // the server is unreachable, or the saved key holds characters no header can carry
    answer.className = "answer error";
    answer.textContent = "The question could not be sent: " + error.message;
    if (sessionKey) { unanswered = question; showKeyForm("Check the saved API key, or enter it again."); }
    return;
  }
  if (response.status === 401) {
    const message = sessionKey ? "The saved API key was refused; enter the right one."
                               : "This server needs an API key; enter it to ask.";
    answer.className = "answer error";
    answer.textContent = message;
    unanswered = question;
    showKeyForm(message + " It is kept in this browser and sent with each question.");
    return;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    answer.className = "answer error";
    answer.textContent = (body.error && body.error.message) || `Error ${response.status}`;
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "";
  answer.textContent = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      if (line === "[DONE]") continue;
      const chunk = JSON.parse(line);
      if (chunk.error) {  // the server failed after the answer began
        answer.className = "answer error";
        answer.textContent = (text ? text + "\n\n" : "") + chunk.error.message;
        turn.dataset.done = "true";
        return;
      }
      const delta = chunk.choices[0].delta.content;
      if (delta) { text += delta; answer.textContent = text; }
      if (chunk.choices[0].finish_reason) {
        if (chunk.refused) turn.classList.add("refused");
        showSources(turn, chunk.citations || []);
        turn.dataset.done = "true";
      }
    }
  }
  history.push({role: "user", content: question}, {role: "assistant", content: text});
}

async function askOnce(question) {
  send.disabled = true;
  try { await ask(question); } finally { send.disabled = false; if (keyForm.hidden) input.focus(); }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  await askOnce(question);
});

keyForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  saveKey(keyInput.value.trim());
  keyInput.value = "";
  keyForm.hidden = true;
  const question = unanswered;
  unanswered = null;
  if (question) await askOnce(question);
});

document.getElementById("key-open").addEventListener("click", () => {
  if (!keyForm.hidden) { keyForm.hidden = true; return; }
  showKeyForm(sessionKey ? "A key is saved in this browser. Enter another to replace it, or save an empty one to forget it."
                         : "Enter the API key if this server asks for one. It is kept in this browser.");
});
