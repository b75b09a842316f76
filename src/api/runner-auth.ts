export interface RunnerIdentity { actor: string; runId: string | null; job: string | null } // runId: exactly that run; job: create and write runs of that job only
export type RunnerAuthenticator = (bearer: string) => Promise<RunnerIdentity | null>;      // null: not my kind of credential
