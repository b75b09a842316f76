// Dispatch: turns outbox events into deliveries by applying the rules. Runs in one transaction per
// batch, with the events locked (SKIP LOCKED), so each event is dispatched exactly once however many
// processes dispatch; a per-job advisory lock makes a job's throttling decisions one at a time.
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Db, Queryable } from '../runlog/db.ts';
import { insertDelivery, lastNotifiedAt } from '../runlog/sql/notification-deliveries.ts';
import {
  claimPendingEvents,
  countEventsSince,
  insertNotificationEvent,
  lastEventAt,
  lockJobNotifications,
  markEventDispatched,
  type NotificationEvent,
} from '../runlog/sql/notification-events.ts';
import { previousOutcome, recentSuccesses } from '../runlog/sql/run-queries.ts';
import { getRun } from '../runlog/sql/runs.ts';
import { NOTIFIED_STATUSES } from '../runlog/types.ts';
import { findAbnormal } from './abnormal.ts';
import { activeMaintenance, FAILING, isRepeat, quietUntil, ruleFamily, ruleOf, summaryText } from './policy.ts';
import { jobRules, type EffectiveSettings, type JobRules } from './settings.ts';

const BATCH = 20;

/** What dispatching needs: the config and settings in effect, and a clock for tests. */
export interface DispatchContext {
  config: KubescribeConfig;
  settings: EffectiveSettings;
  now?: () => Date;
}

/** Dispatches pending events until none is left; returns how many were dispatched. */
export async function dispatchPending(db: Db, ctx: DispatchContext): Promise<number> {
  let total = 0;
  for (;;) {
    const done = await db.transaction(async (tx) => {
      const events = await claimPendingEvents(tx, BATCH);
      // Job order: two dispatchers take their per-job locks in the same order and cannot deadlock.
      events.sort((a, b) => (a.job < b.job ? -1 : a.job > b.job ? 1 : 0)); // stable: keeps the time order within a job
      let locked: string | null = null;
      for (const event of events) {
        if (event.job !== locked) await lockJobNotifications(tx, event.job);
        locked = event.job;
        await markEventDispatched(tx, event.event_id, await dispatchEvent(tx, event, ctx));
      }
      return events.length;
    });
    total += done;
    if (done < BATCH) return total;
  }
}

async function dispatchEvent(tx: Queryable, event: NotificationEvent, ctx: DispatchContext): Promise<Record<string, unknown>> {
  const rules = jobRules(ctx.settings, ctx.config, event.job);
  const isRunOutcome = event.run_id !== null && (NOTIFIED_STATUSES as readonly string[]).includes(event.kind);
  const previous = isRunOutcome ? await previousOutcome(tx, event.job, event.run_id!) : null;
  const rule = ruleOf(event.kind, previous);
  if (event.kind === 'succeeded' && rules.on.includes('abnormal')) await checkAbnormal(tx, event, rules);
  if (!rules.on.includes(rule)) return { rule, notified: false, reason: `"${rule}" is not in notify.on` };
  const now = ctx.now?.() ?? new Date();
  const channels: Record<string, string> = {};
  for (const channel of rules.channels) {
    channels[channel] = await decide(tx, event, rule, previous, channel, rules, ctx, now);
  }
  return { rule, notified: true, channels };
}

async function decide(
  tx: Queryable,
  event: NotificationEvent,
  rule: string,
  previous: string | null,
  channel: string,
  rules: JobRules,
  ctx: DispatchContext,
  now: Date,
): Promise<string> {
  const base = { event_id: event.event_id, job: event.job, run_id: event.run_id, channel, rule, summary: null, next_attempt_at: null };
  if (!ctx.settings.channels.has(channel)) {
    const reason = `channel "${channel}" is not configured (define it under notify.channels, or set SMTP_URL/NOTIFY_EMAIL_TO or SLACK_WEBHOOK_URL)`;
    await insertDelivery(tx, { ...base, state: 'failed', reason });
    return 'failed';
  }
  const maintenance = activeMaintenance(new Date(event.created_at), rules.maintenance);
  if (maintenance) {
    await insertDelivery(tx, { ...base, state: 'suppressed', reason: `during ${maintenance}` });
    return 'suppressed';
  }
  const family = ruleFamily(rule);
  const last = await lastNotifiedAt(tx, event.job, channel, family);
  const eventAt = new Date(event.created_at);
  if (isRepeat(rule, previous) && rules.throttle_ms > 0 && last && eventAt.getTime() - new Date(last).getTime() < rules.throttle_ms) {
    const reason = `repeat within the throttle window (${Math.round(rules.throttle_ms / 60_000)} min) of the message at ${new Date(last).toISOString()}; the next one after it summarises`;
    await insertDelivery(tx, { ...base, state: 'suppressed', reason });
    return 'suppressed';
  }
  // What this message stands for: a failure streak since the last success, or the repeats since the last message.
  let summary: string | null;
  if (rule === 'recovered') {
    const streak = await countEventsSince(tx, event.job, [...FAILING], await lastEventAt(tx, event.job, ['succeeded'], event.event_id), event.event_id);
    summary = streak.count > 0 ? `recovered after ${streak.count} failed run${streak.count > 1 ? 's' : ''}` : null;
  } else {
    const since = FAILING.has(rule) ? await lastEventAt(tx, event.job, ['succeeded'], event.event_id) : isRepeat(rule, previous) ? last : eventAt;
    const { count, first } = await countEventsSince(tx, event.job, family, since, event.event_id);
    summary = summaryText(rule, count, first, now, rules.time_zone);
  }
  const quietEnd = quietUntil(now, rules.quiet_hours, rules.time_zone);
  await insertDelivery(tx, {
    ...base,
    summary,
    state: 'pending',
    reason: quietEnd ? `held for quiet hours until ${quietEnd.toISOString()}` : null,
    next_attempt_at: quietEnd,
  });
  return quietEnd ? 'held' : 'pending';
}

async function checkAbnormal(tx: Queryable, event: NotificationEvent, rules: JobRules): Promise<void> {
  const run = await getRun(tx, event.run_id!);
  if (!run?.finished_at) return;
  const history = await recentSuccesses(tx, event.job, run.run_id, new Date(run.finished_at), rules.abnormal.window);
  const duration = run.started_at ? new Date(run.finished_at).getTime() - new Date(run.started_at).getTime() : null;
  const findings = findAbnormal({ duration_ms: duration, metrics: run.metrics }, history, rules.abnormal);
  if (findings.length === 0) return;
  // Dispatched like any event (next pass): its own rule, throttling and channels.
  await insertNotificationEvent(tx, { kind: 'abnormal', job: event.job, run_id: run.run_id, dedupe_key: `abnormal:${run.run_id}`, detail: { findings } });
}
