// What environment a job's process gets. Two sources of trouble meet here: the runner's own process
// holds credentials the job must never see (the RunLog's, the alert channels'), and a standalone
// runner in a pod cannot tell the user's own variables (AWS_*, an API key from a Secret) from those.
// So: a server-started run gets a small base set only; a standalone runner passes its environment on;
// and in both modes one documented deny-list is always removed (docs/runner.md, "The job's environment").

/** How the child's environment starts before the job's `env` and the protocol variables are added. */
export type EnvMode =
  /** `kubescribe run` on its own (a shell, a container entrypoint): the runner's environment minus the deny-list. */
  | 'inherit'
  /** A run started by `kubescribe dev`/`serve`: only the base set of the server's environment. */
  | 'base';

/** Variables a server-started run gets from the server's environment: what programs need to work, no credentials. */
const BASE_NAMES = new Set([
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'TEMP', 'TMP', 'TERM',
  // The interpreter the server was started in (a virtualenv, a conda env, pyenv) is the one the job expects.
  'VIRTUAL_ENV', 'CONDA_PREFIX', 'CONDA_DEFAULT_ENV', 'PYENV_ROOT', 'PYENV_VERSION',
  'PYTHONPATH', 'PYTHONHOME', 'PYTHONIOENCODING', 'PYTHONUTF8', 'PYTHONDONTWRITEBYTECODE', 'NODE_PATH',
  // The network as the server sees it: proxies and extra CA certificates.
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS',
]);
const BASE_PREFIXES = ['LC_'];

/**
 * Never passed on from the runner's environment, in either mode: the RunLog's connection (DATABASE_URL,
 * and every libpq/node-postgres PG* variable, which can carry the password), the alert channels
 * (SMTP_URL, SLACK_WEBHOOK_URL, NOTIFY_*), and KubeScribe's own settings (KUBESCRIBE_*: the runner's API
 * credential KUBESCRIBE_TOKEN and the path KUBESCRIBE_TOKEN_FILE, KUBESCRIBE_API_URL, the API token
 * among them); the protocol variables are set afresh afterwards.
 */
const DENIED_NAMES = new Set(['DATABASE_URL', 'SMTP_URL', 'SLACK_WEBHOOK_URL']);
const DENIED_PREFIXES = ['PG', 'NOTIFY_', 'KUBESCRIBE_'];

/** True when the runner never passes this variable on from its own environment. */
export function isDeniedEnv(name: string): boolean {
  return DENIED_NAMES.has(name) || DENIED_PREFIXES.some((prefix) => name.startsWith(prefix));
}

function isBaseEnv(name: string): boolean {
  return BASE_NAMES.has(name) || BASE_PREFIXES.some((prefix) => name.startsWith(prefix));
}

export interface ChildEnvInput {
  mode: EnvMode;
  /** The runner's own environment. */
  from: NodeJS.ProcessEnv;
  /** Names to pass on from `from` although the mode or the deny-list would drop them (KUBESCRIBE_PASS_ENV). */
  pass: readonly string[];
  /** The job's declared `env` (kubescribe.yaml): always passed, it is what the job asked for. */
  jobEnv: Record<string, string>;
  /** The runner protocol's variables (KUBESCRIBE_RUN_ID, ...): set last, so nothing overrides them. */
  protocol: Record<string, string>;
}

/** The environment of a job's process: base or inherited variables, minus the deny-list, plus the job's env and the protocol. */
export function childEnvironment(input: ChildEnvInput): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const pass = new Set(input.pass);
  for (const [name, value] of Object.entries(input.from)) {
    if (value === undefined) continue;
    const kept = pass.has(name) || (!isDeniedEnv(name) && (input.mode === 'inherit' || isBaseEnv(name)));
    if (kept) env[name] = value;
  }
  // Piped Python buffers stdout in 8 KB blocks: output would reach the terminal late and out of order
  // with stderr. Unbuffered keeps "exactly as before"; a job or a server that sets it decides.
  env.PYTHONUNBUFFERED = input.from.PYTHONUNBUFFERED ?? '1';
  return Object.assign(env, input.jobEnv, input.protocol);
}
