// One Socket.IO client for tests/socketio.rs.
//
//   node client.js URL TRANSPORTS IDLE_MS [PATH]
//
// TRANSPORTS is `default` (the client's own default: polling, then upgrade to websocket)
// or a comma-separated list for the `transports` option (`websocket`, `polling`).
// Connects without reconnection, waits for the upgrade when both transports are allowed,
// emits `echo` three times with acks, stays idle IDLE_MS (only Engine.IO heartbeats flow),
// emits three more, disconnects, and prints one JSON line of results on stdout. Any
// disconnect or connect_error it did not ask for ends the run at once (still one line).
// Exit status 0 whenever the line was printed; the caller judges the results.
"use strict";

const { io } = require("socket.io-client");

const [url, transportsArg, idleArg, pathArg] = process.argv.slice(2);
if (url === undefined || transportsArg === undefined || idleArg === undefined) {
  console.error("usage: node client.js URL TRANSPORTS IDLE_MS [PATH]");
  process.exit(2);
}
const idleMs = Number(idleArg);
const ACK_TIMEOUT_MS = 3000;
const UPGRADE_WAIT_MS = 5000;
const ROUNDS = 3;

const started = Date.now();
const since = () => Date.now() - started;

const opts = { reconnection: false, timeout: 5000, forceNew: true };
if (transportsArg !== "default") opts.transports = transportsArg.split(",");
if (pathArg) opts.path = pathArg;
const wantUpgrade = transportsArg === "default" || opts.transports.length > 1;

const result = {
  url,
  transports: transportsArg,
  connected: false,
  socketId: null,
  engineId: null,
  initialTransport: null,
  upgraded: false,
  upgradeMs: null,
  acks: [],
  idleMs,
  pingsTotal: 0,
  pingsWhileIdle: 0,
  finalTransport: null,
  socketIdAtEnd: null,
  engineIdAtEnd: null,
  disconnects: [],
  connectErrors: [],
  errors: [],
  elapsedMs: 0,
  ok: false,
};

function describe(x) {
  if (x === undefined || x === null) return null;
  if (typeof x === "number" || typeof x === "string") return x;
  if (x instanceof Error) return x.message;
  return String(x);
}

// An engine.io TransportError carries the HTTP status as `description` and the
// XMLHttpRequest as `context` (whose body is Engine.IO's JSON error).
function errInfo(e) {
  const info = {};
  if (e instanceof Error || (e && e.message !== undefined)) info.message = describe(e.message);
  else if (typeof e !== "object") info.message = describe(e);
  if (e && e.description !== undefined) info.description = describe(e.description);
  const ctx = e && e.context;
  if (ctx && typeof ctx === "object") {
    if (typeof ctx.status === "number") info.status = ctx.status;
    if (typeof ctx.responseText === "string") info.body = ctx.responseText.slice(0, 200);
  }
  return info;
}

let finished = false;
let selfDisconnect = false;
let idle = false;
let failNow = null;
const failed = new Promise((resolve) => {
  failNow = resolve;
});

function finish() {
  if (finished) return;
  finished = true;
  result.elapsedMs = since();
  result.ok =
    result.connected &&
    result.disconnects.length === 0 &&
    result.connectErrors.length === 0 &&
    result.errors.length === 0 &&
    result.acks.length === 2 * ROUNDS;
  selfDisconnect = true;
  // Let the disconnect reach the server (over polling it is one more POST) before exiting,
  // so the node logs "client namespace disconnect" rather than a timeout later on.
  const engine = socket.io.engine;
  let printed = false;
  const done = () => {
    if (printed) return;
    printed = true;
    process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
  };
  if (engine && engine.readyState !== "closed") {
    setTimeout(done, 1000);
    engine.once("close", done);
  } else {
    setImmediate(done);
  }
  socket.disconnect();
}

const guard = setTimeout(() => {
  result.errors.push(`client gave up after ${since()} ms`);
  finish();
}, idleMs + 20000);
guard.unref();

const socket = io(url, opts);

socket.io.on("open", () => {
  const engine = socket.io.engine;
  result.engineId = engine.id;
  result.initialTransport = engine.transport.name;
  engine.on("upgrade", (t) => {
    result.upgraded = true;
    result.upgradeMs = since();
    if (upgradeSeen) upgradeSeen(t.name);
  });
});
socket.io.on("ping", () => {
  result.pingsTotal += 1;
  if (idle) result.pingsWhileIdle += 1;
});

socket.on("connect_error", (e) => {
  result.connectErrors.push({ ...errInfo(e), atMs: since() });
  failNow();
});
socket.on("disconnect", (reason, details) => {
  if (selfDisconnect) return;
  const d = { reason, atMs: since() };
  if (details) Object.assign(d, errInfo(details));
  result.disconnects.push(d);
  failNow();
});

let upgradeSeen = null;
function waitUpgrade() {
  if (result.upgraded) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no upgrade within ${UPGRADE_WAIT_MS} ms`)), UPGRADE_WAIT_MS);
    upgradeSeen = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

function connected() {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve) => socket.once("connect", resolve));
}

async function round(n) {
  for (let i = 0; i < ROUNDS; i++) {
    const ack = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck("echo", { round: n, i });
    result.acks.push({
      round: n,
      node: ack.node,
      connections: ack.connections,
      transport: ack.transport,
      echoed: ack.payload && ack.payload.round === n && ack.payload.i === i,
    });
  }
}

async function main() {
  await connected();
  result.connected = true;
  result.socketId = socket.id;
  if (wantUpgrade) await waitUpgrade();
  await round(1);
  idle = true;
  await new Promise((resolve) => setTimeout(resolve, idleMs));
  idle = false;
  await round(2);
  result.finalTransport = socket.io.engine.transport.name;
  result.socketIdAtEnd = socket.id;
  result.engineIdAtEnd = socket.io.engine.id;
}

Promise.race([main(), failed]).then(
  () => finish(),
  (e) => {
    result.errors.push(describe(e));
    finish();
  },
);
