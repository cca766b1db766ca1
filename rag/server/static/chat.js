// Chat page: streams /v1/chat/completions (server-sent events) and shows numbered sources.
// A server with an API key answers 401: the page asks for the key once and keeps it in localStorage.
// Each answer gets thumbs up/down and a "suggest a better answer" box, posted to /feedback with the
// answer's id (the id of the stream's final chunk, which is the server's log id).
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
const keyForm = document.getElementById("key");
const keyInput = document.getElementById("key-input");
const keyMessage = document.getElementById("key-message");
const KEY_STORAGE = "rag-api-key";
const history = [];
let retry = null;  // what was refused for want of a key (a question, a feedback): done again once a key is saved

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
    if (sessionKey) { retry = () => askOnce(question); showKeyForm("Check the saved API key, or enter it again."); }
    return;
  }
  if (response.status === 401) {
    const message = sessionKey ? "The saved API key was refused; enter the right one."
                               : "This server needs an API key; enter it to ask.";
    answer.className = "answer error";
    answer.textContent = message;
    retry = () => askOnce(question);
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
        showFeedback(turn, chunk.id);
        turn.dataset.done = "true";
      }
    }
  }
  history.push({role: "user", content: question}, {role: "assistant", content: text});
}

function showState(state, kind, text) {
  state.dataset.state = kind;  // "sending", "sent" or "error"
  state.className = "feedback-state" + (kind === "error" ? " error" : "");
  state.textContent = text;
}

// Posts one feedback event and shows how it went in `state`; `sent` runs once the server has it (also when
// it is sent again after a refused key has been replaced).
async function sendFeedback(answerId, fields, state, sent) {
  const again = () => sendFeedback(answerId, fields, state, sent);
  showState(state, "sending", "Sending…");
  let response;
  try {
    response = await fetch("/feedback", {method: "POST", headers: requestHeaders(),
                                         body: JSON.stringify({id: answerId, ...fields})});
  } catch (error) {  // unreachable, or a saved key no header can carry
    showState(state, "error", "Not sent: " + error.message);
    if (sessionKey) { retry = again; showKeyForm("Check the saved API key, or enter it again."); }
    return;
  }
  if (response.status === 401) {
    showState(state, "error", "Not sent: this server needs the API key.");
    retry = again;
    showKeyForm((sessionKey ? "The saved API key was refused; enter the right one."
                            : "This server needs an API key.") + " Your feedback is sent once it is saved.");
    return;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    showState(state, "error", "Not sent: " + ((body.error && body.error.message) || `error ${response.status}`));
    return;
  }
  showState(state, "sent", fields.correction ? "Suggestion sent, thank you." : "Feedback sent, thank you.");
  sent();
}

const SVG = "http://www.w3.org/2000/svg";
const THUMB_PATH = "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 " +
                   "7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23" +
                   ".14-.47.14-.73v-2z";

function thumbIcon() {  // drawn, not an emoji: a machine without an emoji font shows it too
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", THUMB_PATH);
  svg.appendChild(path);
  return svg;
}

function thumb(rating, text, label) {
  const button = element("button", "thumb " + rating);
  button.append(thumbIcon(), text);
  button.type = "button";
  button.title = label;
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-pressed", "false");
  return button;
}

let boxes = 0;  // numbers the correction boxes, for their labels' ids

function correctionBox(answerId, state, toggle) {
  const box = element("form", "correction");
  box.hidden = true;
  box.id = "correction-" + (++boxes);
  const text = element("textarea");
  text.id = box.id + "-text";
  text.required = true;
  text.rows = 3;
  const source = element("input");
  source.type = "text";
  source.id = box.id + "-source";
  source.placeholder = "e.g. homeowner/buying/appraisal.md#2";
  const textLabel = element("label", "", "A better answer");
  textLabel.htmlFor = text.id;
  const sourceLabel = element("label", "", "Source it comes from (optional)");
  sourceLabel.htmlFor = source.id;
  const submit = element("button", "", "Send suggestion");
  submit.type = "submit";
  box.append(textLabel, text, sourceLabel, source, submit);
  box.addEventListener("submit", async (event) => {
    event.preventDefault();
    const correction = text.value.trim();
    if (!correction) { showState(state, "error", "Write the better answer first."); text.focus(); return; }
    const fields = {correction};
    if (source.value.trim()) fields.source = source.value.trim();
    submit.disabled = true;
    try {
      await sendFeedback(answerId, fields, state, () => {
        box.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
        toggle.focus();
      });
    } finally { submit.disabled = false; }
  });
  return box;
}

function showFeedback(turn, answerId) {
  if (!answerId) return;
  const bar = element("div", "feedback");
  bar.setAttribute("role", "group");
  bar.setAttribute("aria-label", "Feedback on this answer");
  const good = thumb("good", "Good", "Good answer");
  const bad = thumb("bad", "Bad", "Bad answer");
  const suggest = element("button", "suggest", "Suggest a better answer");
  suggest.type = "button";
  suggest.setAttribute("aria-expanded", "false");
  const state = element("span", "feedback-state");
  state.setAttribute("role", "status");
  const box = correctionBox(answerId, state, suggest);
  suggest.setAttribute("aria-controls", box.id);
  for (const [button, other, rating] of [[good, bad, "good"], [bad, good, "bad"]]) {
    button.addEventListener("click", () => sendFeedback(answerId, {rating}, state, () => {
      button.setAttribute("aria-pressed", "true");  // pressed only once the server has it
      other.setAttribute("aria-pressed", "false");
    }));
  }
  suggest.addEventListener("click", () => {
    box.hidden = !box.hidden;
    suggest.setAttribute("aria-expanded", String(!box.hidden));
    if (!box.hidden) box.querySelector("textarea").focus();
  });
  bar.append(good, bad, suggest, state);
  turn.append(bar, box);
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
  const again = retry;
  retry = null;
  if (again) await again();
});

document.getElementById("key-open").addEventListener("click", () => {
  if (!keyForm.hidden) { keyForm.hidden = true; return; }
  showKeyForm(sessionKey ? "A key is saved in this browser. Enter another to replace it, or save an empty one to forget it."
                         : "Enter the API key if this server asks for one. It is kept in this browser.");
});
