// A task's chat thread: messages oldest first, artifacts rendered by type, FORM buttons
// that answer, attachments as downloads (images inline). Used by the task page and,
// read-only, by the group page.
import { api, h, query, when } from "./api.js";

function text(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

// A robot's artifact may carry any string as a link: only http(s) becomes an href.
function safeUrl(raw) {
  try {
    const url = new URL(String(raw), window.location.href);
    return ["http:", "https:"].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

function codeBlock(content, language) {
  return h("pre", { class: "code", tabindex: "0" }, h("code", { dataset: { language: language || "" }, text: text(content) }));
}

function diffBlock(diff) {
  const lines = text(diff).split("\n");
  return h(
    "pre",
    { class: "code diff", tabindex: "0", "aria-label": "Diff" },
    lines.map((line) => {
      const kind = line.startsWith("+++") || line.startsWith("---") ? "file"
        : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "ctx";
      return h("span", { class: `diff-${kind}`, text: `${line}\n` });
    })
  );
}

function formOptions(content) {
  const raw = [content.options, content.fields, content.question?.options].find((v) => Array.isArray(v) && v.length) || [];
  return raw.map((option) => (typeof option === "string" ? option : option.optionLabel || option.label || option.value || text(option)));
}

function formArtifact(message, content, ctx) {
  const question = content.actionText || (typeof content.question === "string" ? content.question : content.question?.question) || message.message;
  const answered = ctx.answered.has(message.id);
  const box = h("div", { class: "artifact form", role: "group", "aria-label": question || "Question" }, h("p", { class: "question", text: question }));
  const buttons = formOptions(content).map((label) =>
    h("button", {
      type: "button",
      class: "option",
      disabled: answered || !ctx.canAnswer,
      text: label,
      onclick: async (event) => {
        for (const button of box.querySelectorAll("button")) button.disabled = true;
        try {
          await ctx.send({ message: label, replyId: message.id });
          event.target.classList.add("chosen");
        } catch (error) {
          for (const button of box.querySelectorAll("button")) button.disabled = false;
          box.append(h("p", { class: "error", role: "alert", text: error.message }));
        }
      },
    })
  );
  box.append(h("div", { class: "options" }, buttons));
  if (answered) box.append(h("p", { class: "muted", text: "Answered." }));
  return box;
}

function artifact(message, item, ctx) {
  const content = item.content || {};
  switch (item.type) {
    case "CODE":
      return h("figure", { class: "artifact" }, h("figcaption", { text: content.filename || content.language || "Code" }),
        codeBlock(content.content ?? content.code ?? content.text ?? content, content.language));
    case "DIFF":
      return h("figure", { class: "artifact" }, h("figcaption", { text: content.filename || content.title || "Diff" }),
        diffBlock(content.diff ?? content.content ?? content.patch ?? content));
    case "FORM":
      return formArtifact(message, content, ctx);
    case "PULL_REQUEST": {
      const state = (content.status || content.state || "open").toLowerCase();
      return h("div", { class: "artifact pr" },
        h("span", { class: "pill", dataset: { status: state.toUpperCase() }, text: `PR ${state}` }), " ",
        safeUrl(content.url) ? h("a", { href: safeUrl(content.url), rel: "noopener", target: "_blank", text: content.title || content.url }) : h("span", { text: content.title || "Pull request" }),
        content.number ? h("span", { class: "muted", text: ` #${content.number}` }) : null);
    }
    case "LONGFORM":
      return h("details", { class: "artifact longform", open: true }, h("summary", { text: content.title || "Details" }),
        h("div", { class: "prose", text: text(content.text ?? content.content ?? content.body ?? content) }));
    default:
      return h("details", { class: "artifact" }, h("summary", { text: item.type.toLowerCase().replace("_", " ") }), codeBlock(content));
  }
}

function attachment(file) {
  if ((file.mimeType || "").startsWith("image/") && file.url) {
    return h("figure", { class: "attachment" }, h("img", { src: file.url, alt: file.filename, loading: "lazy" }),
      h("figcaption", {}, h("a", { href: file.url, download: file.filename, text: file.filename })));
  }
  return h("a", { class: "attachment", href: file.url, download: file.filename, text: `${file.filename} (${Math.ceil((file.size || 0) / 1024)} KB)` });
}

export function messageNode(message, ctx) {
  const mine = message.role === "USER";
  return h(
    "li",
    { class: `message ${mine ? "user" : "assistant"}`, dataset: { id: message.id, timestamp: message.timestamp } },
    h("div", { class: "who" }, h("strong", { text: mine ? message.createdBy?.name || "You" : ctx.robotName || "Robot" }), " ",
      h("time", { datetime: message.timestamp, text: when(message.timestamp) }),
      message.replyId ? h("span", { class: "muted", text: " · answer" }) : null),
    message.message ? h("div", { class: "text", text: message.message }) : null,
    (message.artifacts || []).map((item) => artifact(message, item, ctx)),
    (message.attachments || []).length ? h("div", { class: "attachments" }, message.attachments.map(attachment)) : null
  );
}

// Keeps one list of messages in order, each once, whatever order they arrive in.
export class Thread {
  constructor(list, ctx) {
    this.list = list;
    this.ctx = ctx;
    this.ctx.answered = new Set();
    this.messages = new Map();
  }

  add(messages) {
    for (const message of messages) {
      this.messages.set(message.id, message);
      this.place(message);
      if (message.replyId && !this.ctx.answered.has(message.replyId)) {
        this.ctx.answered.add(message.replyId);
        const asked = this.messages.get(message.replyId);
        if (asked) this.place(asked); // its FORM shows as answered
      }
    }
  }

  // In place, in timestamp order: an arriving message never redraws the others.
  place(message) {
    const node = messageNode(message, this.ctx);
    const existing = this.list.querySelector(`[data-id="${message.id}"]`);
    if (existing) {
      existing.replaceWith(node);
      return;
    }
    const later = [...this.list.children].find((child) => child.dataset.timestamp > message.timestamp);
    this.list.insertBefore(node, later || null);
  }

  oldestId() {
    const sorted = [...this.messages.values()].sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    return sorted[0]?.id;
  }
}

export async function loadMessages(taskId, params = {}) {
  const answer = await api(`/api/tasks/${taskId}/messages?${query({ limit: 100, ...params })}`);
  return answer.data;
}
