// The real pusher-js client for the end-to-end tests. Like the web console, it reads
// its connection settings from the server's GET /api/auth/me (`realtime`: key, wsHost,
// wsPort, forceTLS, cluster, authEndpoint), opens `clients` connections, subscribes
// each to `channels` (private ones through the auth endpoint with a Bearer token),
// and prints one JSON line per thing that happens:
//   {"type": "connected", "client", "socketId"}
//   {"type": "subscribed", "client", "channel"}
//   {"type": "subscription_error", "client", "channel", "status"}
//   {"type": "event", "client", "channel", "event", "data"}
//   {"type": "state", "client", "state"}            (with `states`: every connection state)
//   {"type": "replayed", "client", "channel", "seq", "event", "data"}
// With `catchUp`, every (re)subscription also reads GET /api/events?channel=&after=
// from the last seq it saw, as the web console does (dashboard/static/console/js/live.js).
// Clients open `batch` at a time (each batch subscribed before the next opens), so a
// crowd does not hit the auth endpoint all at once. Runs until stdin closes.
// Usage: node listen.js '<json config>'
const Pusher = require("pusher-js");

const config = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

Pusher.logToConsole = false;
const clients = [];
const lastSeqs = {}; // `${client} ${channel}` -> the last seq replayed

async function catchUp(client, channel) {
  const key = `${client} ${channel}`;
  for (;;) {
    const query = new URLSearchParams({ channel, after: lastSeqs[key] || 0, limit: 500 });
    const answer = await fetch(`${config.server}/api/events?${query}`, {
      headers: { Authorization: `Bearer ${config.token}` },
    });
    if (!answer.ok) throw new Error(`GET /api/events: ${answer.status}`);
    const body = await answer.json();
    for (const row of body.data) {
      lastSeqs[key] = Math.max(lastSeqs[key] || 0, row.seq);
      print({ type: "replayed", client, channel, seq: row.seq, event: row.event, data: row.data });
    }
    if (!body.pagination.hasMore) return;
  }
}

function open(realtime, client) {
  let pending = config.channels.length;
  let settle;
  const settled = new Promise((resolve) => (settle = resolve));
  const done = () => --pending === 0 && settle();
  const pusher = new Pusher(realtime.key, {
    cluster: realtime.cluster,
    wsHost: realtime.wsHost,
    wsPort: realtime.wsPort,
    forceTLS: realtime.forceTLS,
    enabledTransports: ["ws"],
    disableStats: true,
    channelAuthorization: {
      endpoint: realtime.authEndpoint, // absolute: Node has no page origin
      transport: "ajax",
      headers: { Authorization: `Bearer ${config.token}` },
    },
  });
  pusher.connection.bind("connected", () =>
    print({ type: "connected", client, socketId: pusher.connection.socket_id }),
  );
  if (config.states) {
    pusher.connection.bind("state_change", ({ current }) =>
      print({ type: "state", client, state: current }),
    );
  }
  pusher.connection.bind("error", (error) =>
    print({ type: "connection_error", client, error: String(error && error.type) }),
  );
  for (const name of config.channels) {
    const channel = pusher.subscribe(name);
    channel.bind("pusher:subscription_succeeded", () => {
      print({ type: "subscribed", client, channel: name });
      if (config.catchUp) {
        catchUp(client, name).catch((error) =>
          print({ type: "catch_up_error", client, channel: name, error: String(error) }),
        );
      }
      done();
    });
    channel.bind("pusher:subscription_error", (error) => {
      print({ type: "subscription_error", client, channel: name, status: error.status });
      done();
    });
    channel.bind_global((event, data) => {
      if (!event.startsWith("pusher:")) {
        print({ type: "event", client, channel: name, event, data });
      }
    });
  }
  clients.push(pusher);
  return settled;
}

(async () => {
  const me = await fetch(`${config.server}/api/auth/me`, {
    headers: { Authorization: `Bearer ${config.token}` },
  });
  const { realtime } = (await me.json()).data;
  print({ type: "config", realtime });
  const total = config.clients || 1;
  const batch = config.batch || total;
  for (let first = 0; first < total; first += batch) {
    const opening = [];
    for (let client = first; client < Math.min(first + batch, total); client++) {
      opening.push(open(realtime, client));
    }
    await Promise.all(opening);
  }
})();

process.stdin.resume();
process.stdin.on("end", () => {
  clients.forEach((pusher) => pusher.disconnect());
  process.exit(0);
});
