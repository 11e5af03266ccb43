// One Socket.IO node for tests/socketio.rs.
//
//   node server.js PORT NAME [PING_INTERVAL_MS PING_TIMEOUT_MS [PATH]]
//
// Listens on 127.0.0.1:PORT (0: the kernel picks), answers the `echo` event with an ack
// carrying its node name and how many Socket.IO connections it has accepted so far, and
// reports on stdout, one JSON object a line:
//   {"event":"listening","node":N,"port":P}           once, first
//   {"event":"connection","node":N,"id":ID,"transport":T}
//   {"event":"upgrade","node":N,"id":ID,"transport":T}
//   {"event":"disconnect","node":N,"id":ID,"reason":R}
//   {"event":"connection_error","node":N,"code":C,"message":M,"method":..,"url":..}
// It exits when stdin closes (so a test that dies cannot leave it behind) or on SIGTERM.
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const [portArg, node, pingIntervalArg, pingTimeoutArg, pathArg] = process.argv.slice(2);
if (portArg === undefined || node === undefined) {
  console.error("usage: node server.js PORT NAME [PING_INTERVAL_MS PING_TIMEOUT_MS [PATH]]");
  process.exit(2);
}

function report(obj) {
  process.stdout.write(JSON.stringify({ node, ...obj }) + "\n");
}

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "content-type": "text/plain" });
  res.end(`not found on ${node}\n`);
});

const io = new Server(httpServer, {
  path: pathArg || "/socket.io/",
  pingInterval: Number(pingIntervalArg || 1000),
  pingTimeout: Number(pingTimeoutArg || 2000),
  // No CORS, no cookies: the clients are Node processes.
  cookie: false,
});

let connections = 0;

io.engine.on("connection_error", (err) => {
  report({
    event: "connection_error",
    code: err.code,
    message: err.message,
    method: err.req && err.req.method,
    url: err.req && err.req.url,
  });
});

io.on("connection", (socket) => {
  connections += 1;
  const conn = socket.conn;
  report({ event: "connection", id: socket.id, transport: conn.transport.name });
  conn.on("upgrade", (transport) => {
    report({ event: "upgrade", id: socket.id, transport: transport.name });
  });
  socket.on("echo", (payload, ack) => {
    if (typeof ack === "function") {
      ack({ node, connections, payload, transport: conn.transport.name });
    }
  });
  socket.on("disconnect", (reason) => {
    report({ event: "disconnect", id: socket.id, reason });
  });
});

httpServer.listen(Number(portArg), "127.0.0.1", () => {
  report({ event: "listening", port: httpServer.address().port });
});

function stop() {
  io.close();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.resume();
