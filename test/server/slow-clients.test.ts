// A real `kubescribe dev` against hostile clients on loopback: headers sent one byte at a time, bodies
// sent slowly and idle connections are cut within the configured timeouts while a normal client is
// still served; one address cannot hold more than its share of connections; a token over its rate
// limit gets 429 (the local admin token never does); and the server log under .kubescribe/ has the
// requests but none of the secrets they carried.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestRunLog, ENGINES, type TestRunLog } from '../support/runlog-engines.ts';
import { spawnServer, type SpawnedServer } from './support.ts';

// PostgreSQL when there is one (it starts fast, and its DATABASE_URL can carry a password to look for).
const engine = ENGINES.at(-1)!;
const HEADERS_S = 2;
const REQUEST_S = 4;
const CAP = 20;
// Trust authentication ignores it; the server must still never write it anywhere.
const PASSWORD = 'pw-Secret-4711';

interface Hostile { socket: Socket; openedAt: number; closedAt: number | null; answer: string }

/** A client from `address` that sends `head` and then one byte of `drip` every 250 ms, forever. */
function slowClient(url: URL, address: string, head: string, drip: string): Hostile {
  const client: Hostile = { socket: connect({ host: url.hostname, port: Number(url.port), localAddress: address }), openedAt: Date.now(), closedAt: null, answer: '' };
  let i = 0;
  const timer = setInterval(() => {
    if (drip && !client.socket.destroyed) client.socket.write(drip[i++ % drip.length]!);
  }, 250);
  client.socket.on('connect', () => head && client.socket.write(head));
  client.socket.on('data', (data) => (client.answer += data.toString('latin1')));
  client.socket.on('error', () => {});
  client.socket.on('close', () => {
    clearInterval(timer);
    client.closedAt = Date.now();
  });
  return client;
}

async function allClosed(clients: Hostile[], withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (clients.some((c) => c.closedAt === null) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  const open = clients.filter((c) => c.closedAt === null).length;
  for (const c of clients) c.socket.destroy();
  assert.equal(open, 0, `${open} of ${clients.length} ${what} still connected after ${withinMs} ms`);
}

describe(`kubescribe dev against slow and greedy clients (${engine})`, () => {
  let runlog: TestRunLog;
  let dir: string;
  let server: SpawnedServer;
  let url: URL;
  let adminToken: string;

  before(async () => {
    runlog = await createTestRunLog(engine);
    dir = mkdtempSync(join(tmpdir(), 'ks-slow-'));
    writeFileSync(join(dir, 'kubescribe.yaml'), [
      'api:',
      `  timeouts: {headers: ${HEADERS_S}s, request: ${REQUEST_S}s}`,
      `  max_connections_per_client: ${CAP}`,
      '  rate_limit: {max: 5, per: 1m}',
      'jobs:',
      '  hello:',
      '    command: ["true"]',
      '',
    ].join('\n'));
    const env = { ...runlog.env };
    if (env.DATABASE_URL) {
      const withPassword = new URL(env.DATABASE_URL);
      withPassword.password = PASSWORD;
      env.DATABASE_URL = withPassword.toString();
    }
    server = await spawnServer(['dev', '--port', '0', '--no-scheduler'], { cwd: dir, env });
    url = new URL(server.url);
    adminToken = readFileSync(join(runlog.home, 'token'), 'utf8').trim();
  });
  after(async () => {
    await server?.kill();
    await runlog.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test('slow headers, slow bodies and silent connections are cut within their timeouts; a normal client is served', async () => {
    const slowHeaders = [...Array.from({ length: CAP }, () => slowClient(url, '127.0.0.2', 'GET /runs HTTP/1.1\r\n', 'x-slow: yes\r\n')),
      ...Array.from({ length: CAP }, () => slowClient(url, '127.0.0.3', 'G', 'ET /runs HTTP/1.1\r\n'))];
    const silent = Array.from({ length: CAP }, () => slowClient(url, '127.0.0.4', '', ''));
    const slowBodies = Array.from({ length: CAP }, () => slowClient(url, '127.0.0.5',
      `POST /runs/trigger HTTP/1.1\r\nhost: ${url.host}\r\nauthorization: Bearer ${adminToken}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{"job":"hello","reason":"`, 'a'));
    // The normal client keeps being answered while the others hang on.
    const normal: number[] = [];
    let serving = true;
    const normalLoop = (async () => {
      while (serving) {
        normal.push((await fetch(`${server.url}/healthz`)).status);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    // The check runs once a second, so a timeout fires up to 1 s late; 3 s more for a loaded machine.
    await allClosed([...slowHeaders, ...silent], (HEADERS_S + 4) * 1000, 'slow-header or silent clients');
    await allClosed(slowBodies, (REQUEST_S + 4) * 1000, 'slow-body clients');
    serving = false;
    await normalLoop;
    assert.ok(normal.length >= 5 && normal.every((status) => status === 200), `normal client: ${normal.join(' ')}`);
    for (const client of [...slowHeaders, ...slowBodies]) {
      assert.ok(client.answer === '' || client.answer.startsWith('HTTP/1.1 408'), `a slow client got: ${client.answer.slice(0, 80)}`);
    }
    // Nothing half-received was accepted.
    const runs = (await (await fetch(`${server.url}/runs`, { headers: { authorization: `Bearer ${adminToken}` } })).json()) as { runs: unknown[] };
    assert.equal(runs.runs.length, 0);
  });

  test('one client address gets at most the cap of connections; the next is refused with 429 in the error shape', async () => {
    const held = Array.from({ length: CAP }, () => slowClient(url, '127.0.0.6', '', ''));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const refused = Array.from({ length: 3 }, () => slowClient(url, '127.0.0.6', '', ''));
    await allClosed(refused, 5000, 'connections over the cap');
    for (const client of refused) {
      assert.match(client.answer, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
      assert.match(client.answer, /\r\nretry-after: 1\r\n/);
      const body = JSON.parse(client.answer.slice(client.answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'too_many_connections');
    }
    // Another address is not affected.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    for (const client of held) client.socket.destroy();
  });

  test('a token over its rate limit gets 429 with Retry-After; the local admin token is not limited', async () => {
    const admin = { authorization: `Bearer ${adminToken}` };
    for (let i = 0; i < 8; i++) assert.equal((await fetch(`${server.url}/runs`, { headers: admin })).status, 200);
    const created = await fetch(`${server.url}/tokens`, {
      method: 'POST', headers: { ...admin, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ci', scope: 'read' }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { token } = (await created.json()) as { token: string };
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetch(`${server.url}/runs?token=${token}`, { headers: { authorization: `Bearer ${token}` } })).status);
    // The query string's token is an unknown parameter (400), and the sixth request is over the limit.
    assert.deepEqual(statuses, [400, 400, 400, 400, 400, 429]);
  });

  test('dev writes its log to .kubescribe/server.log, printed at start, with the requests and without their secrets', async () => {
    const path = join(runlog.home, 'server.log');
    assert.ok(server.stderr().includes(`server log:  ${path}`), server.stderr());
    await fetch(`${server.url}/runs/not-a-run?access_token=${adminToken}`, { headers: { authorization: `Bearer ${adminToken}` } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const log = readFileSync(path, 'utf8');
    const lines = log.trim().split('\n').map((line) => JSON.parse(line) as { msg?: string; req?: { url?: string } });
    assert.ok(lines.some((line) => line.req?.url?.startsWith('/runs/not-a-run?access_token=')), 'the request is logged');
    assert.ok(!log.includes(adminToken), 'the admin token is not in the log');
    assert.ok(!/ksk_[A-Za-z0-9]{8,}/.test(log), 'no API token is in the log');
    assert.ok(!log.includes(PASSWORD), 'the DATABASE_URL password is not in the log');
  });
});
