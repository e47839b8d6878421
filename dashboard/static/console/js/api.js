// The REST API with the Django session: CSRF header on writes, the envelope unwrapped.
export const page = JSON.parse(document.getElementById("console-page")?.textContent || "{}") || {};

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `Request failed (${status})`);
    this.status = status;
    this.code = body && body.code;
  }
}

export async function api(path, { method = "GET", body, form } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  return search.toString();
}

// Builds DOM without innerHTML: every text from the API is text, never markup.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return date.toISOString().slice(0, 10);
}

export function stateLabel(task) {
  return (task.state || (task.workflowStatus ? task.workflowStatus.toLowerCase() : "never ran")).replace("_", " ");
}

// Why a queued task waits (queueReason, docs/API.md), as the console says it.
const QUEUE_REASONS = {
  robot_disabled: "robot disabled",
  no_worker: "no worker running",
  task_busy: "previous turn running",
  group_busy: "group busy",
  queued: "queued for a worker",
};

// "Waiting: group busy (task 1a2b3c4d)" as nodes (a link to the blocking task), or null.
export function queueNote(task) {
  if (!task.queueReason) return null;
  const label = QUEUE_REASONS[task.queueReason] || task.queueReason.replace("_", " ");
  const blocker = task.queueBlockedBy
    ? [" (", h("a", { href: `/tasks/${task.queueBlockedBy}`, text: `task ${task.queueBlockedBy.slice(0, 8)}` }), ")"]
    : [];
  return h("span", { class: "queue-note", dataset: { reason: task.queueReason } }, `Waiting: ${label}`, ...blocker);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
