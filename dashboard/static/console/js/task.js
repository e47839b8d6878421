// The task page: the chat thread with its artifacts, the message box (attachments are
// uploaded, then sent), the live log viewer, and the actions the caller may take.
import { api, h, page, queueNote } from "./api.js";
import { Thread, loadMessages } from "./chat.js";
import { channels, listen, nudge } from "./live.js";
import { LogViewer } from "./logs.js";

const taskId = page.taskId;
const form = document.getElementById("message-form");
const messageList = document.getElementById("messages");
const olderButton = document.getElementById("older-messages");
const actionStatus = document.querySelector("[data-action-status]");
const ACTIVE = ["PENDING", "IN_PROGRESS"];

const thread = new Thread(messageList, {
  canAnswer: Boolean(form),
  robotName: document.querySelector(".summary div:nth-child(2) dd")?.textContent?.trim(),
  send: (body) => send(body),
});

async function send({ message, replyId, attachments = [] }) {
  const answer = await api("/api/chat/message", {
    method: "POST",
    body: { taskId, message, replyId, attachments, clientMessageId: crypto.randomUUID() },
  });
  thread.add([answer.message]);
  logs?.resume();
  return answer.message;
}

// --- the thread -----------------------------------------------------------------------

async function loadThread() {
  const data = await loadMessages(taskId);
  thread.add(data.messages);
  olderButton.hidden = data.count <= data.messages.length;
  messageList.lastElementChild?.scrollIntoView({ block: "nearest" });
}

olderButton.addEventListener("click", async () => {
  const data = await loadMessages(taskId, { before: thread.oldestId() });
  thread.add(data.messages);
  olderButton.hidden = data.messages.length < 100;
});

// What the thread may have missed while the connection was down (pusher-js catches up
// too, but later): the messages after the newest one shown.
async function syncMessages() {
  const newest = [...thread.messages.values()].sort((a, b) => a.timestamp.localeCompare(b.timestamp)).at(-1);
  const data = await loadMessages(taskId, newest ? { after: newest.id } : {});
  thread.add(data.messages);
}

async function fetchMessage(id) {
  if (thread.messages.has(id)) return;
  const answer = await api(`/api/chat/messages/${id}`);
  thread.add([answer.data]);
}

// --- the message box ------------------------------------------------------------------

if (form) {
  const box = form.elements.namedItem("message");
  const files = document.getElementById("attachments");
  const fileList = document.getElementById("attachment-list");
  const error = form.querySelector("[data-send-error]");
  files.addEventListener("change", () => {
    fileList.textContent = [...files.files].map((file) => file.name).join(", ");
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = box.value;
    if (!text.trim() && !files.files.length) return;
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    error.hidden = true;
    try {
      const attachments = [];
      for (const file of files.files) {
        const upload = new FormData();
        upload.append("workspaceId", page.workspaceId);
        upload.append("file", file);
        const stored = (await api("/api/uploads", { method: "POST", form: upload })).data;
        attachments.push({ path: stored.path, filename: stored.filename, mimeType: stored.mimeType, size: stored.size });
      }
      await send({ message: text, attachments });
      box.value = "";
      files.value = "";
      fileList.textContent = "";
    } catch (failure) {
      error.textContent = `Not sent: ${failure.message}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
      box.focus();
    }
  });
}

// --- summary and actions --------------------------------------------------------------

function showTask(task) {
  const label = (task.workflowStatus || "never ran").toLowerCase();
  for (const node of document.querySelectorAll("[data-task-status]")) {
    node.dataset.status = task.workflowStatus || "NEW";
    node.textContent = label;
  }
  document.querySelector("[data-task-status-text]").textContent = label;
  document.getElementById("task-title").textContent = task.title;
  document.title = `${task.title} · Taskdesk`;
  document.querySelector("[data-task-waiting]").hidden = !task.waitingForInput;
  document.querySelector("[data-task-archived]").hidden = !task.archived;
  const run = (task.runs || [])[0]; // newest first
  document.querySelector("[data-task-run]").textContent = run ? `#${run.number} ${run.status.toLowerCase()}` : "—";
  const stamp = (iso) => (iso ? iso.replace("T", " ").slice(0, 19) : "—");
  const queue = document.querySelector("[data-task-queue]");
  queue.replaceChildren(...[queueNote(task)].filter(Boolean)); // its line stays: no shift
  showRuns(task.runs || [], stamp);
  document.querySelector("[data-task-started]").textContent = stamp(task.workflowStartedAt);
  document.querySelector("[data-task-finished]").textContent = stamp(task.workflowCompletedAt);
  const may = task.permissions || {};
  const toggle = (name, visible) => {
    const button = document.querySelector(`[data-action="${name}"]`);
    if (button) button.hidden = !visible;
  };
  toggle("retry", may.canRetry);
  toggle("force-retry", may.canHalt);
  toggle("halt", may.canHalt);
  toggle("archive", !task.archived);
  toggle("unarchive", task.archived);
}

// The runs, newest first: number, why, status, worker, times, exit code.
function showRuns(runs, stamp) {
  const body = document.querySelector("[data-task-runs] tbody");
  if (!body) return;
  body.replaceChildren(
    ...runs.map((run) =>
      h(
        "tr",
        { dataset: { run: run.number } },
        h("td", { text: `#${run.number}` }),
        h("td", { text: run.trigger + (run.requestedBy ? ` by ${run.requestedBy.name || "someone"}` : "") }),
        h("td", { text: run.status.toLowerCase() }),
        h("td", { text: run.worker || "—" }),
        h("td", { text: stamp(run.createdAt) }),
        h("td", { text: stamp(run.startedAt) }),
        h("td", { text: stamp(run.finishedAt) }),
        h("td", { text: run.exitCode ?? "—" })
      )
    )
  );
  document.querySelector("[data-task-runs]").hidden = runs.length === 0;
}

async function refreshTask() {
  const task = (await api(`/api/tasks/${taskId}`)).data;
  showTask(task);
  syncMessages();
  if (ACTIVE.includes(task.workflowStatus)) logs?.resume();
  return task;
}

const ACTIONS = {
  retry: () => api(`/api/tasks/${taskId}/retry`, { method: "POST" }),
  "force-retry": () => api(`/api/tasks/${taskId}/retry?force=true`, { method: "POST" }),
  halt: () => api(`/api/tasks/${taskId}/halt`, { method: "POST" }),
  archive: () => api(`/api/tasks/${taskId}`, { method: "PATCH", body: { archived: true } }),
  unarchive: () => api(`/api/tasks/${taskId}`, { method: "PATCH", body: { archived: false } }),
  delete: async () => {
    const dialog = document.getElementById("confirm-delete");
    dialog.showModal();
    const choice = await new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true }));
    if (choice !== "delete") return null;
    await api(`/api/tasks/${taskId}`, { method: "DELETE" });
    window.location.assign(`/w/${page.workspace}/tasks`);
    return null;
  },
};

for (const button of document.querySelectorAll("[data-action]")) {
  button.addEventListener("click", async () => {
    const name = button.dataset.action;
    button.disabled = true;
    actionStatus.textContent = "";
    try {
      const answer = await ACTIONS[name]();
      if (answer) {
        showTask(answer.data || answer.task);
        actionStatus.textContent = `${button.textContent}: done.`;
        logs?.resume();
      }
    } catch (error) {
      actionStatus.textContent = `${button.textContent}: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
}

// --- logs and live events ---------------------------------------------------------------

const logRoot = document.querySelector(".logs");
const logs = logRoot
  ? new LogViewer(logRoot, taskId, {
      onStatus: (status) => {
        const pill = document.querySelector("[data-task-status]");
        if (pill && pill.dataset.status !== (status || "NEW")) refreshTask();
      },
      onReconnect: () => {
        nudge();
        refreshTask();
      },
    })
  : null;

listen(channels.task, {
  "new-message": (id) => fetchMessage(typeof id === "string" ? id : id?.id),
  "workflow-status-update": () => refreshTask(),
  "task-title-update": (data) => {
    document.getElementById("task-title").textContent = data.newTitle;
  },
});

loadThread();
logs?.connect();
window.taskdeskLogs = logs; // the browser tests read its state
