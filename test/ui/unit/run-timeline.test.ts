import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunEvent } from '../../../src/runlog/types.ts';
import { buildTimeline, tokenOfActor } from '../../../src/ui/run-timeline.ts';

const event = (type: string, actor: string | null, detail: Record<string, unknown> = {}, to: RunEvent['to_status'] = null, from: RunEvent['from_status'] = null): RunEvent =>
  ({ event_id: `e-${type}`, run_id: 'r', at: new Date('2026-12-04T10:00:00Z'), type, from_status: from, to_status: to, actor, detail });

describe('buildTimeline', () => {
  it('says who triggered, adopted, retried and cancelled, and with which token', () => {
    const entries = buildTimeline([
      event('created', 'token:ops', { trigger: 'retry', reason: 'flaky network', retry_of: '0190-old', attempt: 2, idempotency_key: 'k1' }),
      event('adopted', 'executor:local@host', { host: 'host' }, 'starting', 'queued'),
      event('cancel_requested', 'token:alice', { delivered: true }),
      event('cancelled', 'token:alice', {}, 'cancelled', 'running'),
      event('retry_created', 'retry-policy', { run_id: '0190-new', attempt: 3 }),
      event('something_new', null, { nested: { a: 1 } }),
    ]);
    assert.deepEqual(entries.map((e) => [e.title, e.actor, e.token]), [
      ['Triggered as a retry', 'token:ops', 'ops'],
      ['Adopted by a runner', 'executor:local@host', null],
      ['Cancel requested', 'token:alice', 'alice'],
      ['Cancelled', 'token:alice', 'alice'],
      ['Retried', 'retry-policy', null],
      ['something new', null, null],
    ]);
    assert.deepEqual(entries[0]!.facts, [
      { label: 'reason', value: 'flaky network' }, { label: 'idempotency key', value: 'k1' }, { label: 'attempt', value: '2' },
    ]);
    assert.deepEqual(entries[0]!.link, { label: 'retry of', runId: '0190-old' });
    assert.deepEqual(entries[1]!.transition, { from: 'queued', to: 'starting' });
    assert.deepEqual(entries[4]!.link, { label: 'retry', runId: '0190-new' });
    assert.deepEqual(entries[5]!.facts, [{ label: 'nested', value: '{"a":1}' }]);
  });

  it('reads a token name only from a token actor', () => {
    assert.equal(tokenOfActor('token:ci-bot'), 'ci-bot');
    assert.equal(tokenOfActor('scheduler@host'), null);
    assert.equal(tokenOfActor(null), null);
  });
});
