// What a job pod must not hold with `runner_runlog: api`: a credential that can touch another run —
// DATABASE_URL (or libpq's PG* variables, unless from the user's own Secret), KubeScribe's own database, SMTP or Slack Secrets (as env,
// envFrom or volume), or a projected token for any audience but KubeScribe's. Secrets the user declares
// for the job (env from a Secret key, env_from, secret volumes: S3 credentials and the like) are the
// user's choice and pass. Used on every pod spec the executor creates and `kubescribe render` prints.

// Pod specs are open-ended JSON here, as the API double stores them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** The Secrets KubeScribe itself reads (kubernetes.database_secret, smtp_secret, slack_secret), by default name. */
export const OWN_SECRETS = ['kubescribe-database', 'kubescribe-smtp', 'kubescribe-slack'];

/** Every credential a job pod spec holds that could touch another run; empty when none. */
export function podCredentialProblems(spec: Obj, ownSecrets: readonly string[] = OWN_SECRETS): string[] {
  const problems: string[] = [];
  const own = (name: unknown) => typeof name === 'string' && ownSecrets.includes(name);
  for (const container of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Obj[]) {
    for (const env of (container.env ?? []) as Obj[]) {
      // libpq's PG* variables from the user's own Secret are the user's database; plain or from ours, they are the RunLog's.
      const userSecret = env.valueFrom?.secretKeyRef && !own(env.valueFrom.secretKeyRef.name);
      if (env.name === 'DATABASE_URL' || (/^PG[A-Z]+$/.test(env.name) && !userSecret)) problems.push(`${container.name}: env ${env.name}`);
      if (own(env.valueFrom?.secretKeyRef?.name)) problems.push(`${container.name}: env ${env.name} from Secret ${env.valueFrom.secretKeyRef.name}`);
    }
    for (const from of (container.envFrom ?? []) as Obj[]) if (own(from.secretRef?.name)) problems.push(`${container.name}: envFrom Secret ${from.secretRef.name}`);
  }
  for (const volume of (spec.volumes ?? []) as Obj[]) {
    if (own(volume.secret?.secretName)) problems.push(`volume ${volume.name}: Secret ${volume.secret.secretName}`);
    for (const source of (volume.projected?.sources ?? []) as Obj[]) {
      if (own(source.secret?.name)) problems.push(`volume ${volume.name}: projected Secret ${source.secret.name}`);
      const token = source.serviceAccountToken;
      if (token && token.audience !== 'kubescribe') problems.push(`volume ${volume.name}: a token for audience ${token.audience ?? '(the Kubernetes API)'}`);
    }
  }
  return problems;
}
