// Workspace settings (ADMIN and OWNER): members and roles, repositories, robots, and the
// caller's API tokens (a new token is shown once; revoke).
import { api, h, page, query, when } from "./api.js";

const statusLine = document.getElementById("settings-status");
const ROLES = [...document.getElementById("member-role").options].map((option) => option.value);

function report(message) {
  statusLine.textContent = message;
}

async function guarded(action, done) {
  try {
    await action();
    report(done);
  } catch (error) {
    report(error.message);
  }
}

async function loadMembers() {
  const answer = await api(`/api/workspaces/${page.workspace}/members?limit=200`);
  document.getElementById("members").replaceChildren(
    ...answer.data.map((member) => {
      const select = h("select", { "aria-label": `Role of ${member.user.name}` },
        ROLES.map((role) => h("option", { selected: role === member.role, text: role })));
      select.addEventListener("change", () =>
        guarded(() => api(`/api/workspaces/${page.workspace}/members/${member.user.id}`, { method: "PATCH", body: { role: select.value } }), "Role changed."));
      const remove = h("button", { type: "button", text: "Remove", "aria-label": `Remove ${member.user.name}` });
      remove.addEventListener("click", () =>
        guarded(async () => {
          await api(`/api/workspaces/${page.workspace}/members/${member.user.id}`, { method: "DELETE" });
          await loadMembers();
        }, "Member removed."));
      return h("tr", {}, h("td", { text: member.user.name }), h("td", {}, select), h("td", {}, remove));
    })
  );
}

async function loadRepos() {
  const answer = await api(`/api/repos?${query({ workspaceId: page.workspaceId, limit: 200 })}`);
  document.getElementById("repos").replaceChildren(
    ...answer.data.map((repo) => h("tr", {}, h("td", { text: repo.name }), h("td", { text: repo.repositoryUrl }), h("td", { text: repo.defaultBranch })))
  );
}

async function loadRobots() {
  const answer = await api(`/api/robots?${query({ workspaceId: page.workspaceId, limit: 200 })}`);
  document.getElementById("robots").replaceChildren(
    ...answer.data.map((robot) => {
      const config = JSON.stringify(robot.config ?? {});
      const shown = config.length > 60
        ? h("details", {}, h("summary", {}, h("code", { text: `${config.slice(0, 60)}…` })),
            h("pre", { class: "code", text: JSON.stringify(robot.config, null, 2) }))
        : h("code", { text: config });
      return h("tr", {}, h("td", { class: "nowrap", text: robot.name }), h("td", { class: "nowrap", text: robot.runner }), h("td", {}, shown));
    })
  );
}

async function loadTokens() {
  const answer = await api("/api/auth/tokens");
  document.getElementById("tokens").replaceChildren(
    ...answer.data.filter((token) => !token.revokedAt).map((token) => {
      const revoke = h("button", { type: "button", text: "Revoke", "aria-label": `Revoke ${token.name}` });
      revoke.addEventListener("click", () =>
        guarded(async () => {
          await api(`/api/auth/tokens/${token.id}`, { method: "DELETE" });
          await loadTokens();
        }, "Token revoked."));
      return h("tr", {}, h("td", { text: token.name }), h("td", {}, h("code", { text: token.prefix })), h("td", { text: when(token.lastUsedAt) }), h("td", {}, revoke));
    })
  );
}

function onSubmit(id, action, done) {
  const form = document.getElementById(id);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    guarded(async () => {
      await action(values);
      form.reset();
    }, done);
  });
}

onSubmit("member-form", async ({ username, role }) => {
  const body = username.includes("@") ? { email: username, role } : { username, role };
  await api(`/api/workspaces/${page.workspace}/members`, { method: "POST", body });
  await loadMembers();
}, "Member added.");
onSubmit("repo-form", async (values) => {
  await api("/api/repos", { method: "POST", body: { workspaceId: page.workspaceId, ...values } });
  await loadRepos();
}, "Repository added.");
onSubmit("robot-form", async ({ name, runner, config }) => {
  let parsed;
  try {
    parsed = JSON.parse(config || "{}");
  } catch {
    throw new Error("Config must be JSON.");
  }
  await api("/api/robots", { method: "POST", body: { workspaceId: page.workspaceId, name, runner, config: parsed } });
  await loadRobots();
}, "Robot added.");
onSubmit("token-form", async ({ name }) => {
  const token = (await api("/api/auth/tokens", { method: "POST", body: { name } })).data;
  const shown = document.getElementById("new-token");
  shown.querySelector("[data-token]").textContent = token.token;
  shown.hidden = false;
  await loadTokens();
}, "Token created.");

Promise.all([loadMembers(), loadRepos(), loadRobots(), loadTokens()]).catch((error) => report(error.message));
