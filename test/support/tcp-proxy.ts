// A TCP proxy in front of PostgreSQL that a test controls, to make the RunLog fail the ways a network
// or a database does: refused (a database restart: connections dropped, new ones refused), reset (RST
// on every open connection, new ones accepted), frozen (a silent partition: TCP stays open and no byte
// goes through either way, new connections hang), then restored.
import net from 'node:net';

export type ProxyMode = 'open' | 'refused' | 'frozen';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
}

export class TcpProxy {
  private server: net.Server | null = null;
  private readonly pairs = new Set<Pair>();
  private mode: ProxyMode = 'open';
  port = 0;
  /** Connections accepted since start. */
  accepted = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** Starts listening (on a free port the first time, on the same port after a cut). */
  async start(): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    this.mode = 'open';
    return this.port;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    const pair: Pair = { client, upstream: null };
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      pair.upstream?.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    // While frozen, a new connection is accepted and then hears nothing: the upstream connection
    // waits for the restore.
    if (this.mode === 'frozen') client.pause();
    else this.connectUpstream(pair);
  }

  private connectUpstream(pair: Pair): void {
    const { client } = pair;
    const upstream = net.connect(this.target);
    pair.upstream = upstream;
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    upstream.on('error', drop).on('close', drop);
    // Forwarded by hand rather than pipe(): pipe() resumes a paused source on 'drain', which would
    // let bytes through a frozen proxy.
    const forward = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk: Buffer) => {
        if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => {
        if (this.mode === 'open') from.resume();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
    client.resume();
  }

  /** Refused: drops every connection and refuses new ones (what a database restart looks like). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.mode = 'refused';
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream?.destroy();
    }
    this.pairs.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Reset: every open connection gets a TCP RST at once; new connections are still accepted. */
  reset(): void {
    for (const pair of this.pairs) {
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
    }
    this.pairs.clear();
  }

  /** Frozen: connections stay open and no byte goes through either way; new ones hang unanswered. */
  freeze(): void {
    this.mode = 'frozen';
    for (const pair of this.pairs) {
      pair.client.pause();
      pair.upstream?.pause();
    }
  }

  /** Back to normal from any mode: listens again after a cut, forwards again after a freeze. */
  async restore(): Promise<number> {
    if (!this.server) return this.start();
    this.mode = 'open';
    for (const pair of this.pairs) {
      if (!pair.upstream) this.connectUpstream(pair);
      pair.client.resume();
      pair.upstream?.resume();
    }
    return this.port;
  }

  /** Stops for good. */
  async close(): Promise<void> {
    await this.cut();
  }

  /** A copy of `url` that goes through this proxy. */
  urlFor(url: string): string {
    const parsed = new URL(url);
    parsed.hostname = '127.0.0.1';
    parsed.port = String(this.port);
    return parsed.toString();
  }
}

/** Host and port of a PostgreSQL URL. */
export function targetOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || 5432) };
}
