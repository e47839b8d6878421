// What every console page does: the workspace switcher, and the live waiting-for-input
// count in the navigation.
import { api, debounce, page } from "./api.js";
import { channels, listen } from "./live.js";

const switcher = document.querySelector("[data-switch-workspace]");
switcher?.addEventListener("change", () => {
  window.location.assign(switcher.value);
});

const badge = document.querySelector("[data-waiting-count]");
const refreshCount = debounce(async () => {
  const answer = await api(`/api/workspaces/${page.workspace}/tasks/notifications-count`);
  const count = answer.data.waitingForInputCount;
  badge.textContent = String(count);
  badge.setAttribute("aria-label", `${count} waiting for input`);
  badge.hidden = count === 0;
}, 400);

if (page.workspace && badge) {
  listen(channels.workspace, { "task-created": refreshCount, "task-updated": refreshCount });
}
