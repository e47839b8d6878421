// Live updates: the real pusher-js against the configured server (the built-in one by
// default), private channels authorized with the session, and a catch-up through
// GET /api/events after every (re)subscription, so a page left open over a network drop
// misses nothing. Handlers must be idempotent: an event may arrive live and in a replay.
import { api, page, query } from "./api.js";

const handlers = {}; // channel -> event -> [fn]
const lastSeqs = { ...(page.lastSeqs || {}) };
let pusher = null;

function indicator(state) {
  const dot = document.querySelector("[data-realtime-state]");
  if (!dot) return;
  dot.dataset.realtimeState = state;
  dot.setAttribute("aria-label", `Live updates: ${state}`);
  dot.title = `Live updates: ${state}`;
}

function dispatch(channel, event, data) {
  for (const fn of handlers[channel]?.[event] || []) {
    try {
      fn(data);
    } catch (error) {
      console.error("live handler failed", channel, event, error);
    }
  }
}

async function catchUp(channel) {
  for (;;) {
    const after = lastSeqs[channel] || 0;
    const answer = await api(`/api/events?${query({ channel, after, limit: 500 })}`);
    for (const row of answer.data) {
      lastSeqs[channel] = Math.max(lastSeqs[channel] || 0, row.seq);
      dispatch(channel, row.event, row.data);
    }
    if (!answer.pagination.hasMore) return;
  }
}

function connect() {
  const config = page.realtime;
  if (!config || !window.Pusher) return null;
  const csrf = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) || [])[1] || "";
  const options = {
    cluster: config.cluster || "mt1",
    forceTLS: !!config.forceTLS,
    disableStats: true,
    channelAuthorization: {
      endpoint: "/api/realtime/auth",
      transport: "ajax",
      headers: { "X-CSRFToken": decodeURIComponent(csrf) },
    },
  };
  if (config.wsHost) {
    Object.assign(options, {
      wsHost: config.wsHost,
      wsPort: config.wsPort,
      wssPort: config.wsPort,
      enabledTransports: ["ws", "wss"],
    });
  }
  const client = new window.Pusher(config.key, options);
  client.connection.bind("state_change", ({ current }) => indicator(current));
  window.taskdeskRealtime = client; // for the browser tests and curious users
  return client;
}

export function listen(channel, events) {
  pusher = pusher || connect();
  handlers[channel] = handlers[channel] || {};
  for (const [event, fn] of Object.entries(events)) {
    (handlers[channel][event] = handlers[channel][event] || []).push(fn);
  }
  if (!pusher || pusher.channel(channel)) return;
  const subscription = pusher.subscribe(channel);
  subscription.bind_global((event, data) => {
    if (!event.startsWith("pusher:")) dispatch(channel, event, data);
  });
  // Also after every reconnection: pusher-js subscribes again, and what was published
  // meanwhile comes from the outbox.
  subscription.bind("pusher:subscription_succeeded", () => {
    catchUp(channel).catch((error) => console.error("catch-up failed", channel, error));
  });
}

// Another path (the log stream) saw the network come back: do not wait for pusher-js's
// own backoff (up to a minute when "unavailable"); reconnect now, which subscribes again
// and so catches up.
export function nudge() {
  if (pusher && pusher.connection.state !== "connected" && pusher.connection.state !== "connecting") {
    pusher.disconnect();
    pusher.connect();
  }
}

window.addEventListener("online", () => nudge());

// The channel names come from the server (REALTIME_PUBLIC_CHANNELS drops `private-`).
export const channels = page.channels || {};
