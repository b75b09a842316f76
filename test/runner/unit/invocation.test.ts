// The usage checks of `kubescribe run`, before anything is recorded: each problem names its option.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../../../src/config/job-config.ts';
import { ADHOC_JOB, checkInvocation, type InvocationInput } from '../../../src/runner/invocation.ts';

const config = parseConfig('jobs:\n  report:\n    command: ["python3", "report.py"]\n', 'k.yaml');
const given = (over: Partial<InvocationInput>): InvocationInput => ({ command: [], job: null, runId: null, params: [], config, ...over });
const problem = (over: Partial<InvocationInput>) => {
  const result = checkInvocation(given(over));
  return 'problem' in result ? result.problem : null;
};

describe('checkInvocation', () => {
  test("a declared job runs its own command unless one is given after --", () => {
    assert.deepEqual(checkInvocation(given({ job: 'report', params: ['day=monday'] })), {
      job: 'report', definition: config.jobs.get('report'), command: ['python3', 'report.py'], cliParams: { day: 'monday' },
    });
    const over = checkInvocation(given({ job: 'report', command: ['true'] }));
    assert.deepEqual('command' in over && over.command, ['true']);
  });

  test('a command without a job is an ad-hoc run of the one ad-hoc job; --job still names one', () => {
    const adhoc = checkInvocation(given({ command: ['sh', '-c', 'echo direct; exit 3'] }));
    assert.deepEqual('job' in adhoc && [adhoc.job, adhoc.definition], [ADHOC_JOB, undefined]);
    const named = checkInvocation(given({ command: ['./backup.sh'], job: 'backup' }));
    assert.deepEqual('job' in named && [named.job, named.definition], ['backup', undefined]);
  });

  test('each problem names what is wrong', () => {
    assert.match(problem({})!, /^no command: give one after --/);
    assert.equal(problem({ job: 'nightly' }), 'job nightly is not declared in k.yaml and no command was given after --');
    assert.match(problem({ job: 'Bad_Name', command: ['true'] })!, /^--job: invalid job name "Bad_Name"/);
    assert.equal(problem({ command: ['true'], runId: 'not-a-uuid' }), '--run-id not-a-uuid: expected a UUID');
    assert.match(problem({ command: ['true'], params: ['novalue'] })!, /novalue/);
    const declaresAdhoc = parseConfig('jobs:\n  adhoc:\n    command: ["true"]\n', 'other.yaml');
    assert.equal(problem({ command: ['true'], config: declaresAdhoc }),
      '--job: no job given, and other.yaml declares a job named adhoc, the name of ad-hoc runs; give --job');
  });
});
