// `kubescribe render`: prints the manifests that deploy KubeScribe and its CronJobs to a namespace, as
// one YAML stream for `kubectl apply -f -` or a kustomize base. Every object is checked against the
// official Kubernetes schemas before anything is printed, so a bad config fails here, not in the cluster.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../config/job-definition.ts';
import type { CliContext } from './context.ts';
import { UsageError } from './errors.ts';

interface RenderOptions { config?: string; namespace?: string; grafanaDashboard?: boolean }

/** Renders the config at `options.config` (default: KUBESCRIBE_CONFIG or ./kubescribe.yaml); returns the exit code. */
export async function renderCommand(ctx: CliContext, options: RenderOptions): Promise<number> {
  // Loaded here, not at start-up: yaml and the builders are only needed by this command.
  const { defaultKubernetesSettings, dnsLabelProblem } = await import('../config/kubernetes-config.ts');
  if (options.namespace !== undefined) {
    const problem = dnsLabelProblem(options.namespace);
    if (problem) throw new UsageError(`--namespace ${options.namespace}: a namespace name ${problem}`);
  }
  const file = options.config ? resolve(options.config) : ctx.env.configFile;
  const { loadConfig, parseConfig } = await import('../config/job-config.ts');
  const { lineOf, renderManifests, secretsHeader, toYamlStream, withNamespace } = await import('../kubernetes/manifests-render.ts');
  const { kubernetesScheduleProblem } = await import('../kubernetes/manifests.ts');
  let config = loadConfig(file);
  let text = readFileSync(file, 'utf8');
  if (options.namespace !== undefined) {
    text = withNamespace(text, options.namespace);
    config = parseConfig(text, file);
  }
  // Valid for the local scheduler but not for a CronJob (seconds, croner-only syntax): every such job
  // is reported at its line, like any other config error.
  const issues = [...config.jobs.values()].flatMap((job) => {
    const problem = job.schedule ? kubernetesScheduleProblem(job.schedule) : null;
    return problem ? [{ line: lineOf(text, ['jobs', job.name, 'schedule']), path: `jobs.${job.name}.schedule`, message: problem }] : [];
  });
  if (issues.length > 0) throw new ConfigError(file, issues);
  const objects = renderManifests(config, text, { grafanaDashboard: options.grafanaDashboard });

  const problems = await validateAll(ctx, objects);
  if (problems.length > 0) {
    ctx.stderr.write(`kubescribe: the rendered manifests would be rejected by Kubernetes:\n${problems.map((p) => `  ${p}`).join('\n')}\n`);
    return 1;
  }
  if ((config.executor ?? 'local') !== 'kubernetes') {
    ctx.stderr.write(`kubescribe: note: ${basename(file)} has no "executor: kubernetes", so the API would run triggered jobs inside its own pods\n`);
  }
  ctx.stdout.write(toYamlStream(objects, secretsHeader(config.kubernetes ?? defaultKubernetesSettings(), basename(file))));
  return 0;
}

// The validator and its schemas (kubernetes-models) are a development dependency: an install without
// them still renders, and says it did not check.
async function validateAll(ctx: CliContext, objects: unknown[]): Promise<string[]> {
  let validateManifest: (obj: unknown) => string[];
  try {
    ({ validateManifest } = await import('../kubernetes/validate.ts'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    ctx.stderr.write('kubescribe: note: kubernetes-models is not installed, so the manifests were not checked against the Kubernetes schemas\n');
    return [];
  }
  return objects.flatMap((obj) => validateManifest(obj));
}

/** Registers `kubescribe render`. */
export function registerRenderCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  program
    .command('render')
    .description('print the Kubernetes manifests (RBAC, API Deployment and Service, migration Job, CronJobs) as one YAML stream')
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml)')
    .option('-n, --namespace <namespace>', 'namespace to render for (default: kubernetes.namespace of the config, else "default")')
    .option('--grafana-dashboard', 'also print the Grafana dashboard as a ConfigMap labelled grafana_dashboard: "1", for Grafana\'s dashboard sidecar')
    .action(async (options: RenderOptions) => setExit(await renderCommand(ctx, options)));
}
