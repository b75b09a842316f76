// `kubescribe apply`: makes the cluster's CronJobs match kubescribe.yaml (what `serve` also does at
// start with `kubernetes.apply_on_start`). Cluster credentials: the pod's service account in a
// cluster, else KUBECONFIG / ~/.kube/config, as kubectl finds them.
import type { Command } from 'commander';
import { loadCliConfig, withRunLog, type CliContext } from './context.ts';
import { UsageError } from './errors.ts';

/** Registers `kubescribe apply`. */
export function registerApplyCommand(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  program
    .command('apply')
    .description('create, update or delete the CronJobs of the scheduled jobs of kubescribe.yaml in the cluster (only the ones KubeScribe owns)')
    .option('-f, --config <file>', 'config file (default: ./kubescribe.yaml if present)')
    .option('--namespace <ns>', 'namespace (default: kubernetes.namespace of the config)')
    .option('--dry-run', 'print what would change; change nothing')
    .action(async (options: { config?: string; namespace?: string; dryRun?: boolean }) => {
      // The Kubernetes client alone takes ~0.7 s to load: only this command's action pays for it.
      const [{ defaultKubernetesSettings }, { KubeClient }, { syncCronJobs }] = await Promise.all([
        import('../config/kubernetes-config.ts'),
        import('../kubernetes/client.ts'),
        import('../kubernetes/cronjob-sync.ts'),
      ]);
      const config = await loadCliConfig(ctx, options.config);
      if (!config.file) throw new UsageError('kubescribe apply needs a kubescribe.yaml (give one with -f)');
      const settings = { ...(config.kubernetes ?? defaultKubernetesSettings()) };
      if (options.namespace) settings.namespace = options.namespace;
      const client = new KubeClient({ namespace: settings.namespace });
      const result = await withRunLog(ctx, (db) => syncCronJobs({ db, client, config, settings, dryRun: options.dryRun }));
      const say = (line: string) => ctx.stdout.write(`${line}\n`);
      const verb = options.dryRun ? 'would be ' : '';
      for (const name of result.created) say(`cronjob/${name} ${verb}created`);
      for (const name of result.updated) say(`cronjob/${name} ${verb}configured`);
      for (const name of result.unchanged) say(`cronjob/${name} unchanged`);
      for (const name of result.deleted) say(`cronjob/${name} ${verb}deleted`);
      for (const error of result.errors) ctx.stderr.write(`kubescribe: jobs.${error.job}: ${error.message}\n`);
      setExit(result.errors.length > 0 ? 1 : 0);
    });
}
