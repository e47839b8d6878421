// Task groups: newest activity first, a running dot on the ones at work, server-side
// search, cursor paging, and live refresh when one of their tasks changes.
import { api, debounce, h, page, query, stateLabel, when } from "./api.js";
import { channels, listen } from "./live.js";

const list = document.getElementById("group-list");
const more = document.getElementById("load-more");
const status = document.getElementById("list-status");
const search = document.getElementById("group-search");
let nextCursor = null;
let generation = 0;

function row(group) {
  const latest = group.latestTask;
  const running = latest && ["PENDING", "IN_PROGRESS"].includes(latest.workflowStatus);
  return h(
    "li",
    { class: "row", dataset: { id: group.id } },
    running ? h("span", { class: "running-dot", title: "A task is running", "aria-label": "running" }) : null,
    h("a", { class: "title", href: `/groups/${group.id}`, text: group.title || group.bindingKey }),
    h("span", { class: "pill", dataset: { status: latest?.workflowStatus || "NEW" }, text: latest ? stateLabel(latest) : "empty" }),
    h("span", { class: "meta" }, `${group.kind} ${group.bindingKey || ""} · ${group.taskCount} task${group.taskCount === 1 ? "" : "s"} · `,
      h("time", { datetime: group.updatedAt, text: when(group.updatedAt) }))
  );
}

async function load({ append = false } = {}) {
  const mine = append ? generation : ++generation;
  const params = { workspace: page.workspace, search: search.value, limit: 25, cursor: append ? nextCursor : "" };
  history.replaceState(null, "", search.value ? `?${query({ search: search.value })}` : window.location.pathname);
  const answer = await api(`/api/task-groups?${query(params)}`);
  if (mine !== generation) return;
  if (!append) list.replaceChildren();
  list.append(...answer.data.map(row));
  nextCursor = answer.pagination?.nextCursor || null;
  more.hidden = !nextCursor;
  status.textContent = list.children.length ? "" : "No task groups yet.";
}

search.value = new URLSearchParams(window.location.search).get("search") || "";
search.addEventListener("input", debounce(() => load(), 300));
document.getElementById("group-filters").addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
more.addEventListener("click", () => load({ append: true }));
const refresh = debounce(() => load(), 500);
listen(channels.workspace, { "task-created": refresh, "task-updated": refresh });
load();
