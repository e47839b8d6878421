// The real pusher-js, as bench/delivery.py drives it: `clients` connections to the
// server's built-in push service (settings from GET /api/auth/me, as the console reads
// them), each subscribed to one private channel through the auth endpoint. For every
// `bench` event it notes when the first and the last client received it, as epoch
// milliseconds (sub-millisecond), and prints one JSON line once all clients have it:
//   {"type": "ready", "clients"}                         all subscribed
//   {"type": "received", "n", "count", "first", "last"}  event n (its data is {n})
// Partial counts are printed when stdin closes. Usage: node pusher.js '<json config>'
// With `event` in the config (e.g. "new-message"), each such event is printed as it
// arrives instead: {"type": "event", "data", "at"} (bench/execution.py's latency part).
const Pusher = require("pusher-js");

const config = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
const now = () => performance.timeOrigin + performance.now();

Pusher.logToConsole = false;
const clients = [];
const seen = new Map(); // n -> {count, first, last}

function receive(data) {
  const at = now();
  const entry = seen.get(data.n) || { count: 0, first: at, last: at };
  entry.count += 1;
  entry.last = at;
  seen.set(data.n, entry);
  if (entry.count === config.clients) {
    print({ type: "received", n: data.n, ...entry });
    seen.delete(data.n);
  }
}

function open(realtime) {
  return new Promise((resolve, reject) => {
    const pusher = new Pusher(realtime.key, {
      cluster: realtime.cluster,
      wsHost: realtime.wsHost,
      wsPort: realtime.wsPort,
      forceTLS: realtime.forceTLS,
      enabledTransports: ["ws"],
      disableStats: true,
      channelAuthorization: {
        endpoint: realtime.authEndpoint,
        transport: "ajax",
        headers: { Authorization: `Bearer ${config.token}` },
      },
    });
    const channel = pusher.subscribe(config.channel);
    channel.bind("pusher:subscription_succeeded", resolve);
    channel.bind("pusher:subscription_error", (error) =>
      reject(new Error(`subscription refused: ${error.status}`)),
    );
    if (config.event) {
      channel.bind(config.event, (data) => print({ type: "event", data, at: now() }));
    } else {
      channel.bind("bench", receive);
    }
    clients.push(pusher);
  });
}

(async () => {
  const me = await fetch(`${config.server}/api/auth/me`, {
    headers: { Authorization: `Bearer ${config.token}` },
  });
  const { realtime } = (await me.json()).data;
  const batch = config.batch || 100; // a crowd does not hit the auth endpoint at once
  for (let first = 0; first < config.clients; first += batch) {
    const opening = [];
    for (let n = first; n < Math.min(first + batch, config.clients); n++) {
      opening.push(open(realtime));
    }
    await Promise.all(opening);
  }
  print({ type: "ready", clients: clients.length });
})().catch((error) => {
  print({ type: "error", error: String(error) });
  process.exit(1);
});

process.stdin.resume();
process.stdin.on("end", () => {
  for (const [n, entry] of seen) print({ type: "received", n, ...entry });
  clients.forEach((pusher) => pusher.disconnect());
  process.exit(0);
});
