// Shared set-up of the notification tests: runs finished through the real transitionRun (so the
// outbox trigger fires as in production), and a Notifier built from kubescribe.yaml text.
import type { Environment } from '../../src/config/environment.ts';
import { parseConfig } from '../../src/config/job-config.ts';
import type { KubescribeConfig } from '../../src/config/job-definition.ts';
import type { Db } from '../../src/runlog/db.ts';
import { insertLogChunks } from '../../src/runlog/sql/run-logs.ts';
import { transitionRun } from '../../src/runlog/sql/runs.ts';
import type { RunStatus } from '../../src/runlog/types.ts';
import { Notifier, type NotifierOptions } from '../../src/notify/notifier.ts';
import { ev, seedRun } from '../runlog/shared-runlog.ts';

/** An environment for the notifier: the default-channel variables and any named secrets. */
export function notifyEnv(vars: Record<string, string> = {}): Pick<Environment, 'notify' | 'secret'> {
  return {
    notify: {
      smtpUrlSet: Boolean(vars.SMTP_URL),
      emailTo: vars.NOTIFY_EMAIL_TO ?? null,
      emailFrom: vars.NOTIFY_EMAIL_FROM ?? null,
      slackWebhookUrlSet: Boolean(vars.SLACK_WEBHOOK_URL),
      publicUrl: vars.KUBESCRIBE_PUBLIC_URL ?? null,
    },
    secret: (name) => vars[name] ?? null,
  };
}

/** A config parsed from YAML text, as kubescribe.yaml would be. */
export function configFrom(yaml: string): KubescribeConfig {
  return parseConfig(yaml, '/tmp/kubescribe.yaml');
}

/** A notifier on `db` with the given YAML and environment, not started. */
export function makeNotifier(db: Db, yaml: string, vars: Record<string, string>, extra: Partial<NotifierOptions> = {}): Notifier {
  return new Notifier({ db, config: configFrom(yaml), env: notifyEnv(vars), cwd: '/tmp', owner: 'test', ...extra });
}

let clock = Date.now() - 3_600_000;

export interface FinishOptions {
  durationMs?: number;
  metrics?: Record<string, number>;
  error?: { type: string; message: string; tail?: string };
  log?: string;
  params?: Record<string, unknown>;
}

/** A run of `job` that started and finished as `status`, after the previous one; returns its id. */
export async function finishedRun(db: Db, job: string, status: RunStatus, options: FinishOptions = {}): Promise<string> {
  clock += 60_000;
  const startedAt = new Date(clock);
  const run = await seedRun(db, { job, status: 'running', created_at: startedAt, params: options.params ?? { day: '2026-11-26' } });
  await db.query('UPDATE runs SET started_at = $2, heartbeat_at = $2 WHERE run_id = $1', [run.run_id, startedAt]);
  if (options.log) {
    await insertLogChunks(db, run.run_id, [{ seq: 1, stream: 'stderr', at: startedAt.toISOString(), text: options.log }]);
  }
  const finishedAt = new Date(clock + (options.durationMs ?? 1000));
  clock = finishedAt.getTime(); // runs one after the other, as a schedule makes them
  const moved = await transitionRun(db, run.run_id, ['running'], status, {
    finished_at: finishedAt,
    exit_code: status === 'succeeded' ? 0 : status === 'failed' ? 1 : null,
    metrics: options.metrics,
    error_type: options.error?.type,
    error_message: options.error?.message,
    error_tail: options.error?.tail,
  }, ev(status, 'runner'));
  if (!moved.changed) throw new Error(`finishedRun: ${run.run_id} did not move to ${status}`);
  return run.run_id;
}
