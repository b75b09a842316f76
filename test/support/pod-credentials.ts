// What a job pod must not hold with `runner_runlog: api`: any credential beyond its own projected
// KubeScribe token — no DATABASE_URL, no Secret (env, envFrom or volume), no other projected token.
// Used on every pod spec the executor creates and `kubescribe render` prints.

// Pod specs are open-ended JSON here, as the API double stores them.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = Record<string, any>;

/** Every credential a job pod spec holds besides its `kubescribe`-audience projected token; empty when none. */
export function podCredentialProblems(spec: Obj): string[] {
  const problems: string[] = [];
  for (const container of [...(spec.initContainers ?? []), ...(spec.containers ?? [])] as Obj[]) {
    for (const env of (container.env ?? []) as Obj[]) {
      if (env.name === 'DATABASE_URL' || /^PG[A-Z]+$/.test(env.name)) problems.push(`${container.name}: env ${env.name}`);
      if (env.valueFrom?.secretKeyRef) problems.push(`${container.name}: env ${env.name} from Secret ${env.valueFrom.secretKeyRef.name}`);
    }
    for (const from of (container.envFrom ?? []) as Obj[]) if (from.secretRef) problems.push(`${container.name}: envFrom Secret ${from.secretRef.name}`);
  }
  for (const volume of (spec.volumes ?? []) as Obj[]) {
    if (volume.secret) problems.push(`volume ${volume.name}: Secret ${volume.secret.secretName}`);
    for (const source of (volume.projected?.sources ?? []) as Obj[]) {
      if (source.secret) problems.push(`volume ${volume.name}: projected Secret ${source.secret.name}`);
      const token = source.serviceAccountToken;
      if (token && token.audience !== 'kubescribe') problems.push(`volume ${volume.name}: a token for audience ${token.audience ?? '(the Kubernetes API)'}`);
    }
  }
  return problems;
}
