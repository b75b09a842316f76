// How long POST /runs/trigger takes in this process, for kubescribe_trigger_duration_seconds. The
// one metric not read from the RunLog: a trigger's latency is a fact of the replica that answered
// it, never recorded anywhere else. Measured through Fastify's `tracing:fastify.request.handler`
// diagnostics channel, so the trigger route itself knows nothing of metrics, and kept as plain bucket
// counts, so prom-client loads only when someone scrapes.
import { tracingChannel } from 'node:diagnostics_channel';
import type { Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { HistogramSnapshot } from '../reports/metrics-snapshot.ts';

// Seconds; a trigger writes a run and answers, so the interesting range is milliseconds to seconds.
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ROUTE = { method: 'POST', url: '/runs/trigger' };

interface HandlerStore {
  request: { server: { server: Server } };
  reply: { statusCode: number };
  async: boolean;
  route: { url: string; method: string };
}

type Series = { counts: number[]; sum: number };

/** Times the trigger route of the app listening on `server` until stop(). */
export class TriggerTimer {
  private readonly started = new WeakMap<object, number>();
  private readonly series = new Map<string, Series>();
  private readonly channel = tracingChannel('fastify.request.handler');
  private readonly handlers = {
    start: (message: unknown) => {
      if (this.mine(message)) this.started.set(message as object, performance.now());
    },
    end: (message: unknown) => {
      if (!(message as HandlerStore).async) this.finish(message as HandlerStore);
    },
    asyncStart: () => {},
    asyncEnd: (message: unknown) => this.finish(message as HandlerStore),
    error: () => {},
  };

  constructor(private readonly server: Server) {
    this.channel.subscribe(this.handlers);
  }

  /** Stops measuring (the app closes). */
  stop(): void {
    this.channel.unsubscribe(this.handlers);
  }

  /** The durations so far by status class ("2xx", "4xx", "5xx"), as cumulative histograms. */
  snapshot(): Array<{ code: string } & HistogramSnapshot> {
    return [...this.series].sort(([a], [b]) => a.localeCompare(b)).map(([code, { counts, sum }]) => {
      let running = 0;
      const buckets = [...BOUNDS, Number.POSITIVE_INFINITY].map((le, i) => ({ le, count: (running += counts[i]!) }));
      return { code, buckets, count: running, sum };
    });
  }

  private mine(message: unknown): boolean {
    const store = message as HandlerStore;
    return store.route?.method === ROUTE.method && store.route.url === ROUTE.url && store.request?.server?.server === this.server;
  }

  private finish(store: HandlerStore): void {
    const start = this.started.get(store);
    if (start === undefined) return;
    this.started.delete(store);
    const seconds = (performance.now() - start) / 1000;
    const code = `${Math.floor(store.reply.statusCode / 100)}xx`;
    let series = this.series.get(code);
    if (!series) this.series.set(code, (series = { counts: new Array(BOUNDS.length + 1).fill(0), sum: 0 }));
    const index = BOUNDS.findIndex((bound) => seconds <= bound);
    series.counts[index === -1 ? BOUNDS.length : index]! += 1;
    series.sum += seconds;
  }
}
