// The one process-group signalling helper (src/util/process-group.ts), against real processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { processGroupAlive, signalProcessGroup } from '../../src/util/process-group.ts';
import { waitFor } from '../support/cli.ts';

/** A detached `sh` leading its own group, with a background `sleep` in it; resolves once both run. */
async function startGroup() {
  const leader = spawn('/bin/sh', ['-c', 'sleep 60 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const [line] = (await once(leader.stdout!, 'data')) as [Buffer];
  const member = Number(line.toString().trim());
  const exited = once(leader, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { pid: leader.pid!, member, exited };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('signalProcessGroup', () => {
  test('signals the leader and every member of its group', async () => {
    const group = await startGroup();
    assert.equal(processGroupAlive(group.pid), true);
    assert.equal(signalProcessGroup(group.pid, 'SIGTERM'), true);
    const [, signal] = await group.exited;
    assert.equal(signal, 'SIGTERM');
    // The background member is not our child: init reaps it once the signal lands.
    await waitFor(() => !alive(group.member), 30_000, 'the group member to end');
    await waitFor(() => !processGroupAlive(group.pid), 30_000, 'the group to be gone');
  });

  test('a group that is gone answers false (ESRCH) instead of throwing', async () => {
    const group = await startGroup();
    signalProcessGroup(group.pid, 'SIGKILL');
    await group.exited;
    await waitFor(() => !processGroupAlive(group.pid), 30_000, 'the group to be gone');
    assert.equal(signalProcessGroup(group.pid, 'SIGTERM'), false);
  });

  test('refuses pids that would signal every process or our own group', () => {
    for (const pid of [0, 1, -5, Number.NaN, 1.5]) {
      assert.throws(() => signalProcessGroup(pid, 'SIGTERM'), /not a process group leader's pid/, String(pid));
      assert.equal(processGroupAlive(pid), false, String(pid));
    }
  });
});
