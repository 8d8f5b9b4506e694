'use strict';
// A WebSocket echo service on Node's `ws`, configured only by the environment:
//   PORT  the port to listen on (required)
//   HOST  the address to listen on (default 127.0.0.1)
//   TLS_CERT, TLS_KEY  PEM certificate chain and key: serve https/wss (both or neither)
// GET /healthz answers 200; a WebSocket on /chat echoes every message (text as text,
// binary as binary); any other path is a 404. SIGTERM or SIGINT closes open WebSockets
// with 1001 (going away) and exits 0.

const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const { WebSocketServer } = require('ws');

const host = process.env.HOST || '127.0.0.1';
const port = Number.parseInt(process.env.PORT || '', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`server.js: PORT must be a port number, got ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}

const tlsCert = process.env.TLS_CERT || '';
const tlsKey = process.env.TLS_KEY || '';
if (Boolean(tlsCert) !== Boolean(tlsKey)) {
  console.error('server.js: TLS_CERT and TLS_KEY go together');
  process.exit(2);
}
const scheme = tlsCert ? 'https' : 'http';

function handle(req, res) {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (req.method === 'GET' && path === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('OK\n');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end(`no such path: ${path}\n`);
}

const server = tlsCert
  ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, handle)
  : http.createServer(handle);

const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', (req, socket, head) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (path !== '/chat') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.listen(port, host, () => {
  const address = server.address();
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  console.error(`listening on ${scheme}://${shown}:${address.port}`);
});

function stop(signal) {
  console.error(`${signal}: closing`);
  for (const ws of wss.clients) ws.close(1001, 'going away');
  wss.close();
  server.close(() => process.exit(0));
  server.closeAllConnections();
  // Clients that never answer the close frame must not keep the process alive.
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
