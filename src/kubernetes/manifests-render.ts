// Everything `kubescribe render` prints, in apply order, and the YAML stream it prints it as.
import { isMap, isNode, LineCounter, parseDocument, stringify } from 'yaml';
import type { KubescribeConfig } from '../config/job-definition.ts';
import { defaultKubernetesSettings, type KubernetesSettings } from '../config/kubernetes-config.ts';
import { cronJobManifest } from './manifests.ts';
import { readFileSync } from 'node:fs';
import {
  apiDeploymentManifest, apiServiceManifest, configMapManifest, grafanaDashboardManifest, migrationJobManifest, rbacManifests, serviceAccountManifests,
  tokenReviewRbacManifests,
} from './manifests-install.ts';

/** The Grafana dashboard's file: deploy/grafana/kubescribe.json, two levels up from src/kubernetes/ and dist/kubernetes/ alike. */
export const GRAFANA_DASHBOARD_FILE = new URL('../../deploy/grafana/kubescribe.json', import.meta.url);

/** A Kubernetes object as printed: plain JSON data. */
export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };

/**
 * kubescribe.yaml with `kubernetes.namespace` set, comments and layout kept: the ConfigMap must tell the
 * API the namespace the manifests are rendered for, or it would create Jobs somewhere else.
 */
export function withNamespace(configText: string, namespace: string): string {
  const doc = parseDocument(configText);
  const section = doc.get('kubernetes', true);
  const current = isMap(section) ? section.get('namespace', true) : undefined;
  // Splice the text rather than re-print the document, which would re-flow the user's formatting.
  if (isNode(current) && current.range) {
    return `${configText.slice(0, current.range[0])}${namespace}${configText.slice(current.range[1])}`;
  }
  if (isMap(section) && !section.flow && section.range) {
    const first = section.items[0]?.key;
    const indent = isNode(first) && first.range ? configText.slice(configText.lastIndexOf('\n', first.range[0] - 1) + 1, first.range[0]) : '  ';
    const lineStart = configText.lastIndexOf('\n', section.range[0] - 1) + 1;
    return `${configText.slice(0, lineStart)}${indent}namespace: ${namespace}\n${configText.slice(lineStart)}`;
  }
  if (!doc.has('kubernetes')) return `${configText.replace(/\n*$/, '\n')}kubernetes:\n  namespace: ${namespace}\n`;
  if (isMap(section)) section.set('namespace', namespace);
  else doc.set('kubernetes', doc.createNode({ namespace }));
  return doc.toString();
}

/** What `render` adds besides the install objects and CronJobs. */
export interface RenderExtras {
  /** Also the Grafana dashboard as a ConfigMap for Grafana's sidecar (`--grafana-dashboard`). */
  grafanaDashboard?: boolean;
}

/** The install objects and one CronJob per scheduled job, in the order `kubectl apply` should create them. */
export function renderManifests(config: KubescribeConfig, configText: string, extras: RenderExtras = {}): Manifest[] {
  const settings: KubernetesSettings = config.kubernetes ?? defaultKubernetesSettings();
  const defaults = defaultKubernetesSettings();
  // A service account the user names is theirs (it may carry cloud IAM bindings): never overwrite it.
  const runnerAccount = settings.service_account === defaults.service_account;
  const objects: unknown[] = [
    ...serviceAccountManifests(settings, { runnerAccount }),
    ...rbacManifests(settings),
    // Job pods record through the API, which checks their tokens with TokenReview (cluster-scoped RBAC).
    ...(settings.runner_runlog === 'api' ? tokenReviewRbacManifests(settings) : []),
    configMapManifest(settings, configText),
    apiServiceManifest(settings),
    apiDeploymentManifest(settings, configText),
    migrationJobManifest(settings, configText),
    ...[...config.jobs.values()].filter((job) => job.schedule).map((job) => cronJobManifest(job, settings, null)),
    ...(extras.grafanaDashboard ? [grafanaDashboardManifest(settings, readFileSync(GRAFANA_DASHBOARD_FILE, 'utf8'))] : []),
  ];
  // Through JSON: drops undefined fields so the YAML holds exactly what the API server would receive.
  return objects.map((obj) => JSON.parse(JSON.stringify(obj)) as Manifest);
}

/** The Secrets the manifests reference, for the header the user reads before applying. */
export function secretsHeader(settings: KubernetesSettings, source: string): string {
  const ns = settings.namespace;
  return [
    `# Rendered by \`kubescribe render\` from ${source} for namespace ${ns}.`,
    '# The manifests reference these Secrets by name and never hold their values; create them yourself:',
    `#   kubectl -n ${ns} create secret generic ${settings.database_secret.name} --from-literal=${settings.database_secret.key}='postgres://...'`,
    ...(settings.migration_database_secret
      ? [`#   kubectl -n ${ns} create secret generic ${settings.migration_database_secret.name} --from-literal=${settings.migration_database_secret.key}='postgres://...'   (the migration Job's role, which may change the schema)`]
      : []),
    `#   kubectl -n ${ns} create secret generic ${settings.smtp_secret} --from-literal=SMTP_URL=... --from-literal=NOTIFY_EMAIL_FROM=... --from-literal=NOTIFY_EMAIL_TO=...   (optional: email alerts)`,
    `#   kubectl -n ${ns} create secret generic ${settings.slack_secret} --from-literal=SLACK_WEBHOOK_URL=...   (optional: Slack alerts)`,
    `#   kubectl -n ${ns} create secret generic ${settings.admin_token_secret} --from-literal=token="ksk_$(openssl rand -base64 32 | tr '+/' '_-' | tr -d =)"   (optional: the first admin token)`,
  ].join('\n');
}

/** One YAML stream, `---` between objects; long lines are never folded so the output diffs cleanly. */
export function toYamlStream(objects: readonly unknown[], header?: string): string {
  const docs = objects.map((obj) => stringify(obj, { lineWidth: 0, minContentWidth: 0 }));
  return `${header ? `${header}\n` : ''}${docs.map((doc) => `---\n${doc}`).join('')}`;
}

/** The line of the value at `path` in YAML text, to point a config error at; null when it is not there. */
export function lineOf(text: string, path: string[]): number | null {
  const lines = new LineCounter();
  const node = parseDocument(text, { lineCounter: lines }).getIn(path, true);
  return isNode(node) && node.range ? lines.linePos(node.range[0]).line : null;
}
