// The tasks list: tiles, tabs, server-side search (debounced), filters and sort kept in
// the URL, cursor paging with "Load more", and rows that change live.
import { api, debounce, h, page, query, queueNote, stateLabel, when } from "./api.js";
import { channels, listen } from "./live.js";

const form = document.getElementById("filters");
const list = document.getElementById("task-list");
const more = document.getElementById("load-more");
const status = document.getElementById("list-status");
const FILTERS = ["search", "status", "priority", "sourceType", "repoId", "robotId", "groupId", "sortBy"];
const PAGE = 25;
let nextCursor = null;
let generation = 0; // answers to an older query are dropped

function viewState() {
  const params = new URLSearchParams(window.location.search);
  const state = { tab: params.get("tab") || "active" };
  for (const name of FILTERS) state[name] = params.get(name) || "";
  return state;
}

function apiFilters(state) {
  const filters = {
    workspace: page.workspace,
    search: state.search,
    priority: state.priority,
    sourceType: state.sourceType,
    repoId: state.repoId,
    robotId: state.robotId,
    groupId: state.groupId,
    archived: state.tab === "archived" ? "true" : "false",
  };
  if (state.tab === "queue") filters.status = "queued";
  if (state.status) filters.status = state.status;
  return filters;
}

function syncForm(state) {
  for (const name of FILTERS) {
    const field = form.elements.namedItem(name);
    const value = name === "sortBy" ? state[name] || "updatedAt" : state[name];
    if (field && field.value !== value && document.activeElement !== field) field.value = value;
  }
  form.elements.namedItem("tab").value = state.tab;
  for (const tab of document.querySelectorAll("[data-tab]")) {
    const current = tab.dataset.tab === state.tab;
    tab.toggleAttribute("aria-current", current);
    if (current) tab.setAttribute("aria-current", "page");
    tab.href = `?${query({ ...state, tab: tab.dataset.tab })}`;
  }
  for (const tile of document.querySelectorAll("[data-tile]")) {
    tile.href = `?${query({ ...state, status: tile.dataset.tile })}`;
    tile.classList.toggle("selected", (tile.dataset.tile || "") === (state.status || ""));
  }
}

function row(task) {
  return h(
    "li",
    { class: "row", dataset: { id: task.id, status: task.workflowStatus || "NEW" } },
    h("a", { class: "title", href: `/tasks/${task.id}`, text: task.title }),
    h("span", { class: "pill", dataset: { status: task.workflowStatus || "NEW" }, text: stateLabel(task) }),
    task.waitingForInput ? h("span", { class: "badge waiting", text: "waiting for input" }) : null,
    task.archived ? h("span", { class: "badge", text: "archived" }) : null,
    h(
      "span",
      { class: "meta" },
      queueNote(task),
      task.queueReason ? " · " : null,
      [task.repository?.name, task.robot?.name, task.priority?.toLowerCase(), task.branch]
        .filter(Boolean)
        .join(" · "),
      " · ",
      h("time", { datetime: task.updatedAt, text: when(task.updatedAt) })
    )
  );
}

async function loadStats(state) {
  const filters = apiFilters(state);
  delete filters.status;
  const answer = await api(`/api/tasks/stats?${query(filters)}`);
  for (const node of document.querySelectorAll("[data-stat]")) {
    node.textContent = String(answer.data[node.dataset.stat] ?? 0);
  }
}

async function load({ append = false } = {}) {
  const mine = append ? generation : ++generation;
  const state = viewState();
  syncForm(state);
  const params = {
    ...apiFilters(state),
    limit: PAGE,
    sortBy: state.sortBy || "updatedAt",
    sortOrder: state.sortBy === "title" ? "asc" : "desc",
    showAllStatuses: "true",
    cursor: append ? nextCursor : "",
  };
  status.textContent = "Loading…";
  list.setAttribute("aria-busy", "true");
  try {
    const [answer] = await Promise.all([api(`/api/tasks?${query(params)}`), append ? null : loadStats(state)]);
    if (mine !== generation) return;
    if (!append) list.replaceChildren();
    list.append(...answer.data.map(row));
    nextCursor = answer.pagination?.nextCursor || answer.nextCursor || null;
    more.hidden = !nextCursor;
    const shown = list.children.length;
    status.textContent = shown ? `${shown} task${shown === 1 ? "" : "s"} shown` : "No tasks match this view.";
  } catch (error) {
    status.textContent = `Could not load tasks: ${error.message}`;
  } finally {
    list.removeAttribute("aria-busy");
  }
}

function navigate(state, { push = false } = {}) {
  const url = `${window.location.pathname}?${query(state)}`;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  load();
}

function formState() {
  const state = { tab: form.elements.namedItem("tab").value || "active" };
  for (const name of FILTERS) state[name] = form.elements.namedItem(name)?.value || "";
  return state;
}

const searchLater = debounce(() => navigate(formState()), 300);
form.addEventListener("input", (event) => {
  if (event.target.name === "search") searchLater();
});
form.addEventListener("change", (event) => {
  if (event.target.name !== "search") navigate(formState(), { push: true });
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  navigate(formState(), { push: true });
});
document.querySelector("[data-clear-filters]").addEventListener("click", (event) => {
  event.preventDefault();
  navigate({ tab: viewState().tab }, { push: true });
});
for (const link of document.querySelectorAll("[data-tab], [data-tile]")) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    load();
  });
}
window.addEventListener("popstate", () => load());
more.addEventListener("click", () => load({ append: true }));

// --- live ---------------------------------------------------------------------------

function matches(task, state) {
  const filters = apiFilters(state);
  if (String(task.archived) !== filters.archived) return false;
  if (filters.repoId && task.repository?.id !== filters.repoId) return false;
  if (filters.robotId && task.robot?.id !== filters.robotId) return false;
  if (filters.groupId && task.groupId !== filters.groupId) return false;
  if (filters.priority && task.priority !== filters.priority) return false;
  if (filters.sourceType && task.sourceType !== filters.sourceType) return false;
  if (filters.status && task.state !== filters.status) return false;
  if (filters.search) {
    const text = `${task.title} ${task.description || ""} ${task.branch || ""}`.toLowerCase();
    if (!text.includes(filters.search.toLowerCase())) return false;
  }
  return true;
}

async function refreshRow(taskId, { created = false } = {}) {
  let task;
  try {
    task = (await api(`/api/tasks/${taskId}`)).data;
  } catch {
    list.querySelector(`[data-id="${taskId}"]`)?.remove(); // deleted, or no longer ours
    return;
  }
  const state = viewState();
  const existing = list.querySelector(`[data-id="${taskId}"]`);
  const fits = matches(task, state);
  if (existing && fits) existing.replaceWith(row(task));
  else if (existing) existing.remove();
  else if (fits && (created || !state.sortBy || state.sortBy === "updatedAt")) {
    const newestFirst = !state.sortBy || state.sortBy === "updatedAt" || state.sortBy === "createdAt";
    if (newestFirst) list.prepend(row(task));
  }
}

const refreshStats = debounce(() => loadStats(viewState()), 500);
listen(channels.workspace, {
  "task-created": (data) => {
    refreshRow(data.taskId, { created: true });
    refreshStats();
  },
  "task-updated": (data) => {
    refreshRow(data.taskId);
    refreshStats();
  },
  "workspace-task-title-update": (data) => {
    const title = list.querySelector(`[data-id="${data.taskId}"] .title`);
    if (title) title.textContent = data.newTitle;
  },
  "task-deleted": (data) => {
    list.querySelector(`[data-id="${data?.taskId}"]`)?.remove();
    refreshStats();
  },
});

load();
