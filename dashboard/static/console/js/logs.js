// The live log viewer: SSE (EventSource, with the session cookie), the newest lines
// first, resume after a dropped connection from the last seq it showed (`?after=`, which
// the server answers with every later line once), "Load earlier" pages back, and a
// bounded window of DOM lines, filled once per animation frame, so 100,000 lines do not
// freeze the tab.
import { api, h, query } from "./api.js";

const WINDOW = 2000; // lines kept in the DOM
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

export class LogViewer {
  constructor(root, taskId, { onStatus, onReconnect } = {}) {
    this.root = root;
    this.taskId = taskId;
    this.onStatus = onStatus || (() => {});
    this.onReconnect = onReconnect || (() => {});
    this.list = root.querySelector("#log-lines");
    this.state = root.querySelector("[data-log-state]");
    this.earlierButton = root.querySelector('[data-log="earlier"]');
    this.newestButton = root.querySelector('[data-log="newest"]');
    this.lastSeq = null; // the newest seq received (null before the first init)
    this.firstSeq = null; // the oldest seq in the DOM
    this.pending = [];
    this.frame = null;
    this.source = null;
    this.attempt = 0;
    this.ended = false;
    this.detached = false; // showing older lines than the window's newest
    this.earlierButton.addEventListener("click", () => this.loadEarlier());
    root.querySelector('[data-log="copy"]').addEventListener("click", () => this.copy());
    this.newestButton.addEventListener("click", () => this.jumpToNewest());
  }

  setState(state) {
    this.state.dataset.logState = state;
    this.state.textContent = state;
  }

  connect() {
    this.source?.close();
    this.ended = false;
    this.setState(this.attempt ? "reconnecting" : "connecting");
    const params = this.lastSeq === null ? { tail: 200 } : { after: this.lastSeq };
    const source = new EventSource(`/api/tasks/${this.taskId}/logs/stream?${query(params)}`);
    this.source = source;
    source.addEventListener("init", (event) => {
      if (this.attempt) this.onReconnect();
      this.attempt = 0;
      const data = JSON.parse(event.data);
      this.setState(data.task.running ? "live" : "ended");
      if (this.lastSeq === null) {
        this.lastSeq = data.logs.length ? data.logs[data.logs.length - 1].seq : 0;
        this.firstSeq = data.logs.length ? data.logs[0].seq : null;
        this.queue(data.logs);
        this.earlierButton.hidden = !(this.firstSeq > 1);
      }
      this.onStatus(data.task.workflowStatus);
    });
    source.addEventListener("log", (event) => {
      const line = JSON.parse(event.data);
      if (line.seq <= this.lastSeq) return; // never twice
      this.lastSeq = line.seq;
      this.queue([line]);
    });
    source.addEventListener("status", (event) => this.onStatus(JSON.parse(event.data).workflowStatus));
    source.addEventListener("end", (event) => {
      const data = JSON.parse(event.data);
      this.ended = true;
      source.close();
      this.setState("ended");
      this.onStatus(data.workflowStatus);
    });
    source.onerror = () => {
      if (this.ended || source !== this.source) return;
      // EventSource would retry by itself, but gives up on an error status; this resumes
      // from the last line shown, on our own schedule.
      source.close();
      this.setState("reconnecting");
      const delay = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
      this.attempt += 1;
      this.retry = setTimeout(() => this.connect(), delay);
    };
  }

  // A new run started (a message, a retry): follow it again from the last line shown.
  resume() {
    if (this.ended || !this.source || this.source.readyState === EventSource.CLOSED) {
      clearTimeout(this.retry);
      this.connect();
    }
  }

  queue(lines) {
    if (!lines.length) return;
    if (this.detached) {
      this.newestButton.hidden = false;
      return;
    }
    for (const line of lines) this.pending.push(line);
    // Trimmed now and then, not per line: a catch-up of 100,000 lines stays linear.
    if (this.pending.length > 4 * WINDOW) this.pending.splice(0, this.pending.length - WINDOW);
    this.frame = this.frame || requestAnimationFrame(() => this.flush());
  }

  lineNode(line) {
    return h(
      "li",
      { class: `log-line ${line.stream}`, dataset: { seq: line.seq } },
      h("span", { class: "seq", "aria-hidden": "true", text: String(line.seq) }),
      h("span", { class: "text", text: line.line })
    );
  }

  flush() {
    this.frame = null;
    const follow = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const fragment = document.createDocumentFragment();
    for (const line of this.pending.slice(-WINDOW)) fragment.append(this.lineNode(line));
    this.pending = [];
    this.list.append(fragment);
    let extra = this.list.children.length - WINDOW;
    while (extra-- > 0) this.list.firstElementChild.remove();
    const first = this.list.firstElementChild;
    this.firstSeq = first ? Number(first.dataset.seq) : this.firstSeq;
    this.earlierButton.hidden = !(this.firstSeq > 1);
    if (follow) this.list.scrollTop = this.list.scrollHeight;
  }

  async loadEarlier() {
    if (!(this.firstSeq > 1)) return;
    const answer = await api(`/api/tasks/${this.taskId}/logs?${query({ before: this.firstSeq, limit: 200 })}`);
    const lines = answer.data.logs;
    const height = this.list.scrollHeight;
    this.list.prepend(...lines.map((line) => this.lineNode(line)));
    this.list.scrollTop += this.list.scrollHeight - height; // keep the reader's place
    if (lines.length) this.firstSeq = lines[0].seq;
    let extra = this.list.children.length - WINDOW;
    if (extra > 0) this.detached = true;
    while (extra-- > 0) this.list.lastElementChild.remove();
    this.newestButton.hidden = !this.detached;
    this.earlierButton.hidden = !(this.firstSeq > 1) || answer.data.nextBefore === null;
  }

  async jumpToNewest() {
    const answer = await api(`/api/tasks/${this.taskId}/logs?${query({ limit: 200 })}`);
    this.detached = false;
    this.newestButton.hidden = true;
    this.list.replaceChildren();
    this.pending = [];
    const lines = answer.data.logs.filter((line) => line.seq <= this.lastSeq);
    this.queue(lines);
  }

  async copy() {
    const textValue = [...this.list.querySelectorAll(".log-line .text")].map((node) => node.textContent).join("\n");
    try {
      await navigator.clipboard.writeText(textValue);
      this.setState(`${this.state.textContent}`);
    } catch {
      const area = h("textarea", { class: "offscreen" });
      area.value = textValue;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
  }
}
