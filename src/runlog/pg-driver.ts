// The `pg` module, loaded without its Cloudflare probe. On loading, pg asks whether it runs on
// Cloudflare Workers: when `navigator` is missing (Node 20; Node 21+ has one) it constructs a fetch
// `Response`, and that first touch loads Node's whole fetch implementation (undici) and compiles its
// HTTP parser: 10-25 ms of every PostgreSQL runner's start here, for a question whose answer is no.
// A `navigator` that says Node.js for the duration of the import answers it without fetch.
import { navigatorStandIn } from './pg-navigator.ts';
import pg from 'pg';

if (navigatorStandIn) delete (globalThis as { navigator?: unknown }).navigator;

export default pg;
