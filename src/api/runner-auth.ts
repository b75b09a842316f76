// Who may call the runner endpoints (src/api/routes/runner.ts): a runner recording its run through the
// API. Not the read < trigger < admin ladder of API tokens: a runner's credential can touch one run
// (or create and write runs of one job) and nothing else, and no runner identity ever passes the
// scope check of another endpoint. Accepted: an admin API token (any run), or a credential one of the
// authenticators maps: a run token (`ksr_…`, below), a Kubernetes ServiceAccount token (TokenReview).
import type { Db } from '../runlog/db.ts';
import { findLiveRunnerCredential, RUN_TOKEN_PREFIX } from '../runlog/sql/runner-credentials.ts';

/**
 * What a runner credential may do. `runId` set: exactly that run. `job` set: create runs of that job
 * and write them. Both null: any run (an admin API token).
 */
export interface RunnerIdentity {
  /** Who the server records as acting (`runner:<run id>`, `token:<name>`, `k8s:<namespace>/<pod>`). */
  actor: string;
  runId: string | null;
  job: string | null;
}

/**
 * Maps a bearer credential to a runner identity. Null: "not my kind of credential" (or not valid),
 * and the next authenticator is asked. A throw is a failure to decide (the cluster is unreachable):
 * the request fails with it rather than being refused.
 */
export type RunnerAuthenticator = (bearer: string) => Promise<RunnerIdentity | null>;

/** The run token authenticator: `ksr_` tokens from runner_credentials (hashed), live and unexpired. */
export function runTokenAuthenticator(db: Db): RunnerAuthenticator {
  return async (bearer) => {
    if (!bearer.startsWith(RUN_TOKEN_PREFIX)) return null;
    const credential = await findLiveRunnerCredential(db, bearer);
    if (!credential) return null;
    return credential.run_id
      ? { actor: `runner:${credential.run_id}`, runId: credential.run_id, job: null }
      : { actor: `runner:job:${credential.job}`, runId: null, job: credential.job };
  };
}

/** True when `identity` may write (or read) run `runId` of job `job`. */
export function identityAllowsRun(identity: RunnerIdentity, runId: string, job: string | null): boolean {
  if (identity.runId !== null) return identity.runId === runId;
  if (identity.job !== null) return job !== null && identity.job === job;
  return true;
}

/** True for an identity that may act on any run (an admin API token): it may also record undeclared jobs. */
export function isAdminIdentity(identity: RunnerIdentity): boolean {
  return identity.runId === null && identity.job === null;
}
