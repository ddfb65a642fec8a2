// Preloaded into `next start` by bench/nextjs.mjs (NODE_OPTIONS=--require): refuses and
// reports every TCP connection to a host other than loopback, so neither middleware can
// fetch JWKS or send telemetry during the benchmark unnoticed. The benchmark fails on any
// line starting with the marker below, and on a server that never printed "armed".
"use strict";
const net = require("node:net");

const MARKER = "[loopback-only] blocked";
// Proof that the guard is loaded: bench/nextjs.mjs will not measure a server without it.
process.stderr.write("[loopback-only] armed\n");
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;
const connect = net.Socket.prototype.connect;

net.Socket.prototype.connect = function (...args) {
  // Node's own callers pass an already normalized [options, callback] array.
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const options = first !== null && typeof first === "object" ? first : { port: first, host: args[1] };
  const host = typeof options.host === "string" ? options.host : undefined;
  if (options.path === undefined && host !== undefined && !LOOPBACK.test(host)) {
    process.stderr.write(`${MARKER} ${host}:${options.port}\n`);
    process.nextTick(() => this.destroy(new Error(`${MARKER}: ${host} is not loopback`)));
    return this;
  }
  return connect.apply(this, args);
};
