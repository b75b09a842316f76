// The runner's records through the KubeScribe API's runner endpoints (src/api/routes/runner.ts), for a
// runner that holds no database credentials: a job pod, or `kubescribe run` beside a running
// `kubescribe dev`. node:http, not fetch (src/api-client/api-client.ts says why); no database engine is loaded.
import { ApiClient, ApiClientError, ApiUnreachableError } from '../api-client/api-client.ts';
import type { EventInput, RunPatch, TransitionResult } from '../runlog/sql/runs.ts';
import type { RunStatus } from '../runlog/types.ts';
import type { RecordOp } from './record-ops.ts';
import type { RecordSink, SinkRun } from './record-sink.ts';

/** A record of one run: what POST /runner/runs/{id}/records takes. */
type RunRecord = Exclude<RecordOp, { op: 'sync_job' | 'ensure_job' | 'insert_run' }>;

/** The runner's credential: read once, and again when the API refuses it (Kubernetes rotates projected tokens). */
export interface RunnerCredential {
  /** The credential now (KUBESCRIBE_TOKEN, or the content of KUBESCRIBE_TOKEN_FILE). */
  read(): string;
  /** Where it came from, for messages (never the value). */
  readonly source: string;
  /** True when read() may return something new after a refusal (a file). */
  readonly rereadable: boolean;
}

export interface ApiSinkOptions {
  url: string;
  credential: RunnerCredential;
  /** A request not answered within this bound counts as the API being unreachable (default 10 s). */
  timeoutMs?: number;
}

// Answers that mean "not now" rather than "never": the API's RunLog is down (503), a proxy in
// front of it is (502, 504), the rate limit (429), and a refused credential (401: it may be rotated,
// or the server restarted with another token file; the records wait in the spool meanwhile).
const RETRYABLE = new Set([401, 408, 429, 502, 503, 504]);

export class ApiSink implements RecordSink {
  readonly description: string;
  private client: ApiClient;
  private token: string;

  constructor(private readonly options: ApiSinkOptions) {
    this.description = `the KubeScribe API at ${options.url}`;
    this.token = options.credential.read();
    this.client = this.clientFor(this.token);
  }

  async apply(ops: RecordOp[]): Promise<void> {
    let pending: RunRecord[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      const records = pending;
      pending = [];
      await this.call((client) => client.post(`/runner/runs/${records[0]!.run_id}/records`, { records }));
    };
    for (const op of ops) {
      switch (op.op) {
        // The server's config is the truth about jobs: the server syncs them, and ensures the job of a
        // run it creates (an undeclared one only for an admin token).
        case 'sync_job':
        case 'ensure_job':
          continue;
        case 'insert_run':
          await flush();
          await this.call((client) => client.post('/runner/runs', { run: op.run, event: op.event }));
          continue;
        default:
          if (pending.length > 0 && pending[0]!.run_id !== op.run_id) await flush();
          pending.push(op);
      }
    }
    await flush();
  }

  async getRun(runId: string): Promise<SinkRun | null> {
    try {
      return await this.call((client) => client.get<{ status: RunStatus; params: Record<string, unknown> }>(`/runner/runs/${runId}`));
    } catch (error) {
      if (error instanceof ApiClientError && error.status === 404) return null;
      throw error;
    }
  }

  adopt(runId: string, patch: RunPatch, event: EventInput): Promise<TransitionResult> {
    return this.call((client) => client.post<TransitionResult>(`/runner/runs/${runId}/adopt`, { patch, event }));
  }

  isUnreachable(error: unknown): boolean {
    return error instanceof ApiUnreachableError || (error instanceof ApiClientError && (RETRYABLE.has(error.status) || error.code === 'bad_response'));
  }

  isForbidden(error: unknown): boolean {
    return error instanceof ApiClientError && error.status === 403;
  }

  async close(): Promise<void> {}

  private clientFor(token: string): ApiClient {
    return new ApiClient(this.options.url, token, this.options.timeoutMs ?? 10_000);
  }

  /** One request; on a 401 a credential from a file is read again and the request sent once more. */
  private async call<T>(fn: (client: ApiClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client);
    } catch (error) {
      if (!(error instanceof ApiClientError && error.status === 401 && this.options.credential.rereadable)) throw error;
      let fresh: string;
      try {
        fresh = this.options.credential.read();
      } catch {
        throw error;
      }
      if (fresh === this.token) throw error;
      this.token = fresh;
      this.client = this.clientFor(fresh);
      return await fn(this.client);
    }
  }
}
