// The `pg` module, loaded without its Cloudflare probe. On loading, pg asks whether it runs on
// Cloudflare Workers: when `navigator` is missing (Node 20; Node 21+ has one) it constructs a fetch
// `Response`, and that first touch loads Node's whole fetch implementation (undici) and compiles its
// HTTP parser: 10-25 ms of every PostgreSQL runner's start here, for a question whose answer is no.
// A `navigator` that says Node.js for the duration of the import answers it without fetch.
const scope = globalThis as { navigator?: unknown };
const standIn = scope.navigator === undefined;
if (standIn) scope.navigator = { userAgent: 'Node.js' };
let loaded: typeof import('pg');
try {
  loaded = await import('pg');
} finally {
  if (standIn) delete scope.navigator;
}

const pg = loaded.default;
export default pg;
