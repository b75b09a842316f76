// The one way to make a run event: every writer of the audit trail (trigger service, runner,
// executors, reaper, reconciler, watcher) builds its events here, so that ids and times agree.
import type { EventInput } from './sql/runs.ts';
import { uuidv7 } from './uuidv7.ts';

/** A new run event of `type` by `actor` (null: nobody in particular), at `at` (default: now). */
export function runEvent(type: string, actor: string | null, detail: Record<string, unknown> = {}, at: Date = new Date()): EventInput {
  return { event_id: uuidv7(), at, type, actor, detail };
}
