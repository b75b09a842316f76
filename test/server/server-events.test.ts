// The server's one event map: every component's events reach every listener, a throwing listener
// reaches no component, and each event becomes one log line at the level its kind deserves.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logLine, logServerEvents, ServerEvents } from '../../src/server/server-events.ts';

describe('ServerEvents', () => {
  it('delivers each component event to every listener, past a listener that throws', () => {
    const events = new ServerEvents();
    const seen: string[] = [];
    events.on(() => {
      throw new Error('a broken listener');
    });
    events.on((source, event) => seen.push(`${source}:${'type' in event ? event.type : event.level}`));
    const reaper = events.reporter('reaper');
    assert.doesNotThrow(() => reaper({ type: 'pass_failed', error: new Error('down') }));
    events.reporter('kubernetes')({ level: 'warn', message: 'reconciler: dispatched 1 queued run(s)' });
    assert.deepEqual(seen, ['reaper:pass_failed', 'kubernetes:warn']);
  });

  it('maps each kind of event to one log line', () => {
    const error = new Error('database unreachable');
    assert.deepEqual(logLine('scheduler', { type: 'tick_failed', error }), { level: 'error', fields: { err: error }, message: 'scheduler pass failed' });
    assert.deepEqual(logLine('notifier', { type: 'pass_failed', error }), { level: 'error', fields: { err: error }, message: 'notifier pass failed' });
    const lost = { type: 'run_lost' as const, runId: 'r', job: 'j', lastSignAt: new Date(0), silentMs: 5, message: 'no heartbeat since …' };
    assert.deepEqual(logLine('reaper', lost), { level: 'warn', fields: { reaper: lost }, message: 'no heartbeat since …' });
    const monitor = { type: 'monitor' as const, late: 1, missed: 0, swept: 0 };
    assert.deepEqual(logLine('notifier', monitor), { level: 'info', fields: { notification: monitor }, message: 'notification' });
    const skipped = { type: 'slot_skipped' as const, job: 'j', scheduledFor: new Date(0), reason: 'suspended' };
    assert.deepEqual(logLine('scheduler', skipped), { level: 'info', fields: { scheduler: skipped }, message: 'scheduler' });
    assert.deepEqual(logLine('kubernetes', { level: 'error', message: 'reconcile pass failed: x', run_id: 'r' }),
      { level: 'error', fields: { run_id: 'r', detail: undefined }, message: 'reconcile pass failed: x' });
  });

  it('writes through the logger at that level', () => {
    const lines: [string, unknown, string][] = [];
    const log = Object.fromEntries(['info', 'warn', 'error'].map((level) => [level, (fields: unknown, message: string) => lines.push([level, fields, message])]));
    const events = new ServerEvents();
    logServerEvents(events, log as never);
    events.emit('reaper', { type: 'pass_failed', error: new Error('x') });
    assert.equal(lines.length, 1);
    assert.equal(lines[0]![0], 'error');
    assert.equal(lines[0]![2], 'reaper pass failed');
  });
});
