import { resolve } from 'node:path';
import { userInfo } from 'node:os';

/** Everything KubeScribe reads from the process environment, read in this one place. */
export interface Environment {
  /** PostgreSQL URL; when absent the embedded PGlite RunLog is used. */
  databaseUrl: string | null;
  /** Schema for the RunLog tables on PostgreSQL (default: the connection's search_path). */
  databaseSchema: string | null;
  /** Directory for local state: the PGlite database, the runner's offline buffer. */
  home: string;
  /** Path of the config file. */
  configFile: string;
  /** Set by an executor that created the run beforehand (Kubernetes Job, local executor). */
  runId: string | null;
  job: string | null;
  trigger: string | null;
  triggeredBy: string | null;
  user: string;
  /** KUBESCRIBE_SERVER: the API that client commands (trigger, runs, logs...) talk to. */
  server: string | null;
  /** KUBESCRIBE_TOKEN: the API token client commands send (and a runner's credential with KUBESCRIBE_API_URL). */
  token: string | null;
  /** KUBESCRIBE_API_URL: the API a runner records through instead of the RunLog (docs/runner.md, "Where records go"). */
  apiUrl: string | null;
  /** KUBESCRIBE_TOKEN_FILE: a file holding the runner's credential, read again when refused (a projected ServiceAccount token). */
  tokenFile: string | null;
  /** KUBESCRIBE_ADMIN_TOKEN_FILE: `serve` makes sure the admin token this file holds exists (a mounted Secret; docs/kubernetes.md). */
  adminTokenFile: string | null;
  /** KUBESCRIBE_RUNLOG: `direct` or `api` forces where a runner records; null: chosen (docs/runner.md). */
  runlogMode: string | null;
  /** Where a runner in a Kubernetes pod runs (downward API env of the job pods), or null outside one. */
  pod: { namespace: string | null; name: string; node: string | null; k8sJob: string | null } | null;
  /**
   * Default alert channels (docs/notifications.md): SMTP_URL + NOTIFY_EMAIL_TO + NOTIFY_EMAIL_FROM,
   * SLACK_WEBHOOK_URL. Only whether the secret ones are set; their values are read through secret().
   */
  notify: { smtpUrlSet: boolean; emailTo: string | null; emailFrom: string | null; slackWebhookUrlSet: boolean; publicUrl: string | null };
  /** KUBESCRIBE_PASS_ENV: names of variables the runner passes to jobs although it would not by default (docs/runner.md). */
  passEnv: string[];
  /** A variable kubescribe.yaml names as holding a secret (`url_env: X`); read on demand, never listed. */
  secret(name: string): string | null;
}

/** Reads the environment once; everything inward receives plain values. */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Environment {
  const blank = (value: string | undefined) => (value === undefined || value.trim() === '' ? null : value.trim());
  return {
    databaseUrl: blank(env.DATABASE_URL),
    databaseSchema: blank(env.KUBESCRIBE_DB_SCHEMA),
    home: resolve(cwd, blank(env.KUBESCRIBE_HOME) ?? '.kubescribe'),
    configFile: resolve(cwd, blank(env.KUBESCRIBE_CONFIG) ?? 'kubescribe.yaml'),
    runId: blank(env.KUBESCRIBE_RUN_ID),
    job: blank(env.KUBESCRIBE_JOB),
    trigger: blank(env.KUBESCRIBE_TRIGGER),
    triggeredBy: blank(env.KUBESCRIBE_TRIGGERED_BY),
    user: blank(env.USER) ?? blank(env.LOGNAME) ?? safeUsername(),
    server: blank(env.KUBESCRIBE_SERVER),
    token: blank(env.KUBESCRIBE_TOKEN),
    apiUrl: blank(env.KUBESCRIBE_API_URL),
    tokenFile: blank(env.KUBESCRIBE_TOKEN_FILE) === null ? null : resolve(cwd, blank(env.KUBESCRIBE_TOKEN_FILE)!),
    adminTokenFile: blank(env.KUBESCRIBE_ADMIN_TOKEN_FILE) === null ? null : resolve(cwd, blank(env.KUBESCRIBE_ADMIN_TOKEN_FILE)!),
    runlogMode: blank(env.KUBESCRIBE_RUNLOG),
    pod: blank(env.KUBESCRIBE_POD_NAME)
      ? { namespace: blank(env.KUBESCRIBE_NAMESPACE), name: blank(env.KUBESCRIBE_POD_NAME)!, node: blank(env.KUBESCRIBE_NODE_NAME), k8sJob: blank(env.KUBESCRIBE_K8S_JOB) }
      : null,
    notify: {
      smtpUrlSet: blank(env.SMTP_URL) !== null,
      emailTo: blank(env.NOTIFY_EMAIL_TO),
      emailFrom: blank(env.NOTIFY_EMAIL_FROM),
      slackWebhookUrlSet: blank(env.SLACK_WEBHOOK_URL) !== null,
      publicUrl: blank(env.KUBESCRIBE_PUBLIC_URL),
    },
    // Names separated by commas or spaces.
    passEnv: (env.KUBESCRIBE_PASS_ENV ?? '').split(/[\s,]+/).filter((name) => name !== ''),
    secret: (name) => blank(env[name]),
  };
}

function safeUsername(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
