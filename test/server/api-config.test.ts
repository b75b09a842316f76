// The `api:` section of kubescribe.yaml: parsed values, defaults, and file:line errors naming the key.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, emptyConfig, parseConfig } from '../../src/config/job-config.ts';
import { SERVER_DEFAULTS, serverSettings } from '../../src/server/server-settings.ts';

const problems = (text: string): string[] => {
  try {
    parseConfig(text, 'kubescribe.yaml');
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message.split('\n');
  }
  return [];
};

describe('api: settings', () => {
  test('every key is read; unset keys take the defaults; the flag overrides the grace', () => {
    const config = parseConfig([
      'api:',
      '  rate_limit: {max: 100, per: 10s}',
      '  max_connections_per_client: 0',
      '  shutdown_grace: 5s',
      '  timeouts: {headers: 2s, request: 4s, idle: 90s, keep_alive: 5s}',
      'jobs: {}',
      '',
    ].join('\n'), 'kubescribe.yaml');
    assert.deepEqual(serverSettings(config), {
      rateLimit: { max: 100, per_ms: 10_000 }, maxConnectionsPerClient: 0, shutdownGraceMs: 5000,
      headersTimeoutMs: 2000, requestTimeoutMs: 4000, idleTimeoutMs: 90_000, keepAliveTimeoutMs: 5000,
    });
    assert.equal(serverSettings(config, { shutdownGraceMs: 0 }).shutdownGraceMs, 0);
    assert.deepEqual(serverSettings(emptyConfig()), SERVER_DEFAULTS);
    assert.equal(serverSettings(parseConfig('api:\n  rate_limit: off\njobs: {}\n', 'k.yaml')).rateLimit, null);
    // A request timeout under the default header timeout takes the header timeout down with it.
    const short = serverSettings(parseConfig('api:\n  timeouts: {request: 3s}\njobs: {}\n', 'k.yaml'));
    assert.deepEqual([short.headersTimeoutMs, short.requestTimeoutMs], [3000, 3000]);
  });

  test('bad values are reported with file, line and key, all in one pass', () => {
    assert.deepEqual(problems([
      'api:',
      '  rate_limit: {max: 0, per: soon}',
      '  max_connections_per_client: -1',
      '  shutdown_grace: forever',
      '  timeouts:',
      '    headers: 10s',
      '    request: 5s',
      '    idel: 5s',
      '  ratelimit: 5',
      'jobs: {}',
      '',
    ].join('\n')), [
      'kubescribe.yaml:2: api.rate_limit.max: expected a whole number from 1 to 1000000, got 0',
      'kubescribe.yaml:2: api.rate_limit.per: expected a duration such as "15m", got "soon"',
      'kubescribe.yaml:3: api.max_connections_per_client: expected a whole number from 0 (no cap) to 100000, got -1',
      'kubescribe.yaml:4: api.shutdown_grace: expected a duration such as "15m", got "forever"',
      'kubescribe.yaml:7: api.timeouts.request: must be at least timeouts.headers: the headers are part of the request',
      'kubescribe.yaml:8: api.timeouts.idel: unknown key "idel"; did you mean "idle"?',
      'kubescribe.yaml:9: api.ratelimit: unknown key "ratelimit"; did you mean "rate_limit"?',
    ]);
    assert.deepEqual(problems('api:\n  rate_limit: {max: 10}\njobs: {}\n'), [
      'kubescribe.yaml:2: api.rate_limit.per: required key is missing (or write rate_limit: off)',
    ]);
  });
});
