// The Node peers: servers doing the bare minimum, each on a free port of 127.0.0.1.
// Prints `listening <port>` and serves until killed.
//
//   node peers.js ws-echo | ws-broadcast | socketio-echo
//
// ws-echo: every message straight back. ws-broadcast: every message to every client.
// socketio-echo: Socket.IO 4; an `echo` event's data back in its ack.
"use strict";

const http = require("http");
const WebSocket = require("ws");
const { Server } = require("socket.io");

const kind = process.argv[2];
const server = http.createServer();

if (kind === "socketio-echo") {
  const io = new Server(server, { transports: ["websocket"], serveClient: false });
  io.on("connection", (socket) => socket.on("echo", (data, ack) => ack(data)));
} else {
  const wss = new WebSocket.Server({ server, perMessageDeflate: false });
  wss.on("connection", (socket) => {
    socket.on("message", (data, isBinary) => {
      if (kind === "ws-echo") {
        socket.send(data, { binary: isBinary });
        return;
      }
      for (const client of wss.clients) client.send(data, { binary: isBinary });
    });
  });
}

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
