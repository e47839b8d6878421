// A task group as one conversation: each task (oldest first) as a card, followed by its
// messages, live as its tasks change.
import { api, debounce, h, page, query, stateLabel, when } from "./api.js";
import { Thread, loadMessages } from "./chat.js";
import { channels, listen } from "./live.js";

const conversation = document.getElementById("conversation");
const more = document.getElementById("load-more");
const status = document.getElementById("list-status");
let nextCursor = null;

function card(task) {
  return h(
    "div",
    { class: "task-card" },
    h("a", { href: `/tasks/${task.id}`, text: task.title }),
    " ",
    h("span", { class: "pill", dataset: { status: task.workflowStatus || "NEW" }, text: stateLabel(task) }),
    task.waitingForInput ? h("span", { class: "badge waiting", text: "waiting for input" }) : null,
    h("span", { class: "meta" }, " ", [task.robot?.name, task.branch].filter(Boolean).join(" · "), " · ",
      h("time", { datetime: task.createdAt, text: when(task.createdAt) }))
  );
}

async function section(task) {
  const messages = h("ol", { class: "messages" });
  const item = h("li", { class: "turn", dataset: { id: task.id } }, card(task), messages);
  const thread = new Thread(messages, { canAnswer: false, robotName: task.robot?.name, send: async () => null });
  thread.add((await loadMessages(task.id)).messages);
  return item;
}

async function load({ append = false } = {}) {
  const params = { limit: 20, sortBy: "createdAt", sortOrder: "asc", showAllStatuses: "true", cursor: append ? nextCursor : "" };
  const answer = await api(`/api/task-groups/${page.groupId}/tasks?${query(params)}`);
  const sections = await Promise.all(answer.data.map(section));
  if (!append) conversation.replaceChildren();
  conversation.append(...sections);
  nextCursor = answer.pagination?.nextCursor || null;
  more.hidden = !nextCursor;
  status.textContent = conversation.children.length ? "" : "This group has no tasks yet.";
}

more.addEventListener("click", () => load({ append: true }));
const refresh = debounce(() => load(), 500);
listen(channels.workspace, {
  "task-created": refresh,
  "task-updated": (data) => {
    if (conversation.querySelector(`[data-id="${data.taskId}"]`)) refresh();
  },
});
load();
