// Chat page: streams /v1/chat/completions (server-sent events) and shows numbered sources.
const log = document.getElementById("log");
const form = document.getElementById("ask");
const input = document.getElementById("question");
const send = document.getElementById("send");
const history = [];

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
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({model: "rag", stream: true, messages: [...history, {role: "user", content: question}]}),
  });
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

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = input.value.trim();
  if (!question) return;
  input.value = "";
  send.disabled = true;
  try { await ask(question); } finally { send.disabled = false; input.focus(); }
});
