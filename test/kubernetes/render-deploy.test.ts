// The deploy/ kustomize tree and the Dockerfiles. Every kustomization is built twice: by `kubectl
// kustomize` itself (kubectl is a test requirement, as PostgreSQL is for CI: Debian's
// kubernetes-client package or any kubectl 1.21+), and by a small builder here for what they use
// (resources, strategic-merge patches), which must agree with it; every object of both validates
// against the Kubernetes schemas. There is no Docker engine here, so the Dockerfiles are read for the
// mistakes that break a build or a pod: a COPY of a missing or ignored file, a base image, the user.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/cli.ts';
import { DEFAULT_KUBERNETES_IMAGE } from '../../src/config/kubernetes-config.ts';
import { RUN_AS_USER } from '../../src/kubernetes/manifests-install.ts';
import { RUNNER_IMAGE_PATH } from '../../src/kubernetes/runner-injection.ts';
import { validateManifest } from '../../src/kubernetes/validate.ts';

type Obj = Record<string, unknown> & { kind: string; metadata: { name: string; namespace?: string } };
interface Kustomization { resources?: string[]; patches?: { path?: string }[]; [key: string]: unknown }

const KUSTOMIZE = join(REPO_ROOT, 'deploy/kustomize');
// What the kustomizations here use; anything else must be added to this builder first, not silently ignored.
const SUPPORTED = new Set(['apiVersion', 'kind', 'resources', 'patches']);

function readKustomization(dir: string): Kustomization {
  const file = join(dir, 'kustomization.yaml');
  assert.ok(existsSync(file), `${relative(REPO_ROOT, dir)} has no kustomization.yaml`);
  const k = parse(readFileSync(file, 'utf8')) as Kustomization;
  assert.equal(k.kind, 'Kustomization');
  for (const key of Object.keys(k)) assert.ok(SUPPORTED.has(key), `${relative(REPO_ROOT, file)}: this test cannot build "${key}" yet`);
  return k;
}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// Strategic merge for the fields these patches touch: maps merge, lists of named items merge by name,
// other lists are replaced.
function merge(target: unknown, patch: unknown): unknown {
  if (isMap(target) && isMap(patch)) {
    const out: Record<string, unknown> = { ...target };
    for (const [key, value] of Object.entries(patch)) out[key] = key in target ? merge(target[key], value) : value;
    return out;
  }
  if (Array.isArray(target) && Array.isArray(patch) && patch.every((p) => isMap(p) && typeof p.name === 'string')) {
    const out = [...target];
    for (const item of patch as Record<string, unknown>[]) {
      const i = out.findIndex((t) => isMap(t) && t.name === item.name);
      if (i >= 0) out[i] = merge(out[i], item);
      else out.push(item);
    }
    return out;
  }
  return patch;
}

/** The objects `kubectl kustomize dir` would print, for the features this repository's kustomizations use. */
function build(dir: string): Obj[] {
  const k = readKustomization(dir);
  const objects: Obj[] = [];
  for (const resource of k.resources ?? []) {
    const path = join(dir, resource);
    assert.ok(existsSync(path), `${relative(REPO_ROOT, dir)}/kustomization.yaml: resource ${resource} does not exist`);
    if (statSync(path).isDirectory()) objects.push(...build(path));
    else objects.push(...parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => doc.toJS() as Obj));
  }
  for (const patch of k.patches ?? []) {
    assert.ok(patch.path, 'inline patches are not used here');
    const file = join(dir, patch.path);
    assert.ok(existsSync(file), `${relative(REPO_ROOT, dir)}/kustomization.yaml: patch ${patch.path} does not exist`);
    const body = parse(readFileSync(file, 'utf8')) as Obj;
    const i = objects.findIndex((o) => o.kind === body.kind && o.metadata.name === body.metadata.name);
    assert.ok(i >= 0, `patch ${patch.path} targets ${body.kind} ${body.metadata.name}, which the resources do not have`);
    objects[i] = merge(objects[i], body) as Obj;
  }
  return objects;
}

/** Every directory under deploy/kustomize with a kustomization.yaml: the base and each overlay. */
function kustomizations(dir = KUSTOMIZE): string[] {
  const here = existsSync(join(dir, 'kustomization.yaml')) ? [dir] : [];
  const below = readdirSync(dir).map((name) => join(dir, name)).filter((path) => statSync(path).isDirectory());
  return [...here, ...below.flatMap((path) => kustomizations(path))];
}

describe('deploy/kustomize', () => {
  it('kubectl kustomize builds every overlay; each object validates; the result matches the builder here', () => {
    const dirs = kustomizations();
    assert.ok(dirs.length >= 2, dirs.join(', '));
    for (const dir of dirs) {
      const name = relative(REPO_ROOT, dir);
      const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', timeout: 60_000 });
      assert.ok(!result.error, `kubectl is needed to test ${name} (install Debian's kubernetes-client): ${result.error?.message}`);
      assert.equal(result.status, 0, `kubectl kustomize ${name}: ${result.stderr}`);
      const objects = parseAllDocuments(result.stdout).map((doc) => doc.toJS() as Obj);
      for (const obj of objects) assert.deepEqual(validateManifest(obj), [], `${name}: ${obj.kind} ${obj.metadata.name}`);
      const ids = (list: Obj[]) => list.map((o) => `${o.kind}/${o.metadata.name}`).sort();
      assert.deepEqual(ids(objects), ids(build(dir)), `${name}: kubectl and the builder here build the same objects`);
    }
  });

  it('the example Ingress routes to the API Service by its port name, and keeps log streams unbuffered', () => {
    const objects = build(join(KUSTOMIZE, 'overlays/example'));
    const ingress = objects.find((o) => o.kind === 'Ingress') as Record<string, any>;
    assert.ok(ingress, 'the example overlay has an Ingress');
    const service = objects.find((o) => o.kind === 'Service') as Record<string, any>;
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    assert.equal(backend.name, service.metadata.name);
    assert.ok(service.spec.ports.some((p: { name: string }) => p.name === backend.port.name), 'the Service has the port the Ingress names');
    assert.equal(ingress.metadata.namespace, service.metadata.namespace);
    assert.equal(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-buffering'], 'off');
  });

  it('the base builds from files that exist, and every object in it validates', () => {
    const objects = build(join(KUSTOMIZE, 'base'));
    assert.ok(objects.length >= 9);
    for (const obj of objects) assert.deepEqual(validateManifest(obj), [], `${obj.kind} ${obj.metadata.name}`);
  });

  it('the example overlay builds on the base, its patch applies, and every object validates', () => {
    const objects = build(join(KUSTOMIZE, 'overlays/example'));
    for (const obj of objects) assert.deepEqual(validateManifest(obj), [], `${obj.kind} ${obj.metadata.name}`);
    const api = objects.find((o) => o.kind === 'Deployment') as Record<string, any>;
    assert.equal(api.spec.replicas, 3);
    assert.equal(api.spec.template.spec.topologySpreadConstraints[0].topologyKey, 'kubernetes.io/hostname');
    // The patch adds to the pod; it does not replace what the base says.
    assert.equal(api.spec.template.spec.containers[0].name, 'api');
    assert.equal(api.spec.template.spec.securityContext.runAsNonRoot, true);
  });
});

interface Instruction { op: string; args: string; line: number }

function instructions(file: string): Instruction[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Instruction[] = [];
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let text = lines[i] as string;
    if (/^\s*(#|$)/.test(text)) continue;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i] as string}`;
    const match = /^\s*(\w+)\s+(.*)$/.exec(text);
    if (match) out.push({ op: (match[1] as string).toUpperCase(), args: (match[2] as string).trim(), line: start + 1 });
  }
  return out;
}

/** The sources of a COPY from the build context (not `--from`), as written. */
function copySources(list: Instruction[]): { sources: string[]; line: number }[] {
  return list
    .filter((i) => i.op === 'COPY' && !/--from=/.test(i.args))
    .map((i) => {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      return { sources: words.slice(0, -1), line: i.line };
    });
}

function ignored(context: string): RegExp[] {
  const file = join(context, '.dockerignore');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((p) => new RegExp(`^${p.replace(/\./g, '\\.').replace(/^\*\*\//, '\0').replace(/\*/g, '[^/]*').replace('\0', '(.*/)?')}(/|$)`));
}

describe('Dockerfiles', () => {
  it('the KubeScribe image is Node 24 LTS slim with python3, runs non-root as the manifests expect, and copies what exists', () => {
    const list = instructions(join(REPO_ROOT, 'Dockerfile'));
    const from = list.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]);
    assert.ok(from.length >= 1 && from.every((image) => /^node:24(\.\d+)*-[a-z]*-?slim$/.test(image as string)), `FROM ${from.join(', ')}`);
    assert.ok(list.some((i) => i.op === 'RUN' && /apt-get install[^&]*\bpython3\b/.test(i.args)), 'python3 is installed');
    const user = list.filter((i) => i.op === 'USER').at(-1);
    assert.equal(user?.args, `${RUN_AS_USER}:${RUN_AS_USER}`, 'a numeric non-root user, the one the Deployment sets');
    assert.ok(list.some((i) => i.op === 'RUN' && /ln -s \S*bin\/kubescribe\.js \/usr\/local\/bin\/kubescribe/.test(i.args)), 'kubescribe on PATH');
    assert.equal(list.find((i) => i.op === 'ENTRYPOINT')?.args, '["kubescribe"]');
    const ignore = ignored(REPO_ROOT);
    for (const { sources, line } of copySources(list)) {
      for (const source of sources) {
        assert.ok(existsSync(join(REPO_ROOT, source)), `Dockerfile:${line}: COPY ${source}: no such file in the build context`);
        assert.ok(!ignore.some((re) => re.test(source)), `Dockerfile:${line}: COPY ${source} is excluded by .dockerignore`);
      }
    }
    // The single-file runner the init container of every job pod copies (runner: inject), where it looks for it.
    assert.ok(list.some((i) => i.op === 'RUN' && /node scripts\/build-runner\.mjs/.test(i.args)), 'the single-file runner is built');
    assert.ok(RUNNER_IMAGE_PATH.startsWith('/app/dist/') && list.some((i) => i.op === 'COPY' && /--from=build \/src\/dist \.\/dist/.test(i.args)) &&
      list.some((i) => i.op === 'WORKDIR' && i.args === '/app'), `the runner lands at ${RUNNER_IMAGE_PATH}`);
    // The build stage must see what the build script reads.
    assert.ok(copySources(list).some(({ sources }) => sources.includes('src')));
    assert.ok(copySources(list).some(({ sources }) => sources.includes('package-lock.json')));
  });

  it('the user image adds Node 24 and the runner to the user\'s Python image, and copies what its context has', () => {
    const file = join(REPO_ROOT, 'examples/Dockerfile.user');
    const list = instructions(file);
    const text = readFileSync(file, 'utf8');
    const context = join(REPO_ROOT, /docker build -f examples\/Dockerfile\.user .* (\S+)\n/.exec(text)?.[1] ?? '.');
    assert.equal(relative(REPO_ROOT, context), 'examples/report', 'the documented build context');
    const from = list.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]);
    assert.deepEqual(from, [DEFAULT_KUBERNETES_IMAGE, 'python:3.12-slim']);
    assert.ok(list.some((i) => i.op === 'COPY' && /--from=node:24-bookworm-slim \/usr\/local\/bin\/node /.test(i.args)), 'Node 24 for the runner');
    assert.ok(list.some((i) => i.op === 'COPY' && /--from=kubescribe \/app /.test(i.args)), 'KubeScribe from its image');
    for (const { sources, line } of copySources(list)) {
      // A bracket glob may match nothing (an optional file), but every plain name must exist.
      const plain = sources.filter((s) => !/[[*?]/.test(s));
      assert.ok(plain.length > 0, `Dockerfile.user:${line}: a COPY of only optional files`);
      for (const source of plain) assert.ok(existsSync(join(context, source)), `Dockerfile.user:${line}: COPY ${source}: not in ${relative(REPO_ROOT, context)}`);
    }
    assert.match(list.find((i) => i.op === 'ENTRYPOINT')?.args ?? '', /^\["kubescribe", "run", "--"\]$/);
    assert.ok(existsSync(join(dirname(file), 'report/script.py')));
  });
});
