// Delivery: sends due deliveries and records every attempt. A delivery is leased (state `sending`,
// lease_owner, lease_until) in the statement that claims it, so two senders never hold the same one;
// a sender that dies mid-send leaves a lease that runs out, and another sender retries it. That makes
// delivery at-least-once across crashes (the message id lets receivers drop a repeat), exactly-once
// otherwise.
import type { KubescribeConfig } from '../config/job-definition.ts';
import type { Db } from '../runlog/db.ts';
import { claimDueDeliveries, recordAttempt, type ClaimedDelivery } from '../runlog/sql/notification-deliveries.ts';
import { channelSecrets, createChannel, PermanentChannelError, scrub, type Channel, type SecretSource } from './channels/channel.ts';
import { buildMessage } from './message.ts';
import type { EffectiveSettings } from './settings.ts';

const BATCH = 10;
const MAX_BACKOFF_MS = 600_000;

/** What sending needs. */
export interface DeliverContext {
  config: KubescribeConfig;
  settings: EffectiveSettings;
  secrets: SecretSource;
  /** This process, recorded on each attempt: `host:pid`. */
  owner: string;
  /** Overrides channel construction (tests count sends through it). */
  channelFor?: (name: string) => Channel;
}

/** Outcome of one delivery attempt, for logging. */
export interface AttemptOutcome {
  delivery_id: string;
  channel: string;
  attempt: number;
  ok: boolean;
  error: string | null;
  next: 'sent' | 'retry' | 'failed';
}

/** The wait before attempt `attempt + 1`: backoff doubling per attempt, at most 10 minutes. */
export function retryDelay(backoffMs: number, attempt: number): number {
  return Math.min(backoffMs * 2 ** Math.max(0, attempt - 1), MAX_BACKOFF_MS);
}

/** Sends every due delivery (in batches) and returns what happened to each. */
export async function deliverDue(db: Db, ctx: DeliverContext): Promise<AttemptOutcome[]> {
  const outcomes: AttemptOutcome[] = [];
  const { timeout_ms: timeoutMs } = ctx.settings.delivery;
  // The lease outlives the send's own deadline (plus building the message) with room to spare.
  const leaseMs = timeoutMs * 2 + 30_000;
  for (;;) {
    const claimed = await claimDueDeliveries(db, ctx.owner, leaseMs, BATCH);
    outcomes.push(...(await Promise.all(claimed.map((delivery) => attempt(db, ctx, delivery, timeoutMs)))));
    if (claimed.length < BATCH) return outcomes;
  }
}

async function attempt(db: Db, ctx: DeliverContext, delivery: ClaimedDelivery, timeoutMs: number): Promise<AttemptOutcome> {
  const startedAt = new Date();
  const spec = ctx.settings.channels.get(delivery.channel);
  let error: string | null = null;
  let permanent = false;
  try {
    if (!spec && !ctx.channelFor) throw new PermanentChannelError(`channel "${delivery.channel}" is no longer configured`);
    const channel = ctx.channelFor ? ctx.channelFor(delivery.channel) : createChannel(spec!, ctx.secrets);
    const message = await buildMessage(db, delivery, ctx.config, ctx.settings.public_url);
    await channel.send(message, timeoutMs);
  } catch (caught) {
    permanent = caught instanceof PermanentChannelError;
    const text = (caught as Error).message || String(caught);
    error = spec ? scrub(text, channelSecrets(spec, ctx.secrets)) : text;
  }
  const max = ctx.settings.delivery.max_attempts;
  const next = error === null ? 'sent' : permanent || delivery.attempt >= max ? 'failed' : 'retry';
  await recordAttempt(db, {
    delivery_id: delivery.delivery_id,
    owner: ctx.owner,
    attempt: delivery.attempt,
    started_at: startedAt,
    finished_at: new Date(),
    ok: error === null,
    error: error && next === 'failed' && !permanent ? `${error} (gave up after ${delivery.attempt} attempts)` : error,
    next,
    retry_at: next === 'retry' ? new Date(Date.now() + retryDelay(ctx.settings.delivery.backoff_ms, delivery.attempt)) : undefined,
  });
  return { delivery_id: delivery.delivery_id, channel: delivery.channel, attempt: delivery.attempt, ok: error === null, error, next };
}
