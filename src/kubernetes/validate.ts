// Checks a Kubernetes object the way the API server would before KubeScribe sends or prints it: the
// official OpenAPI schemas (kubernetes-models, generated from Kubernetes 1.27) for shapes and types, plus
// the rules those schemas cannot express and the API server enforces in code — names are DNS-1123, label
// keys and values are bounded, a Job's pods restart Never or OnFailure, a CronJob name leaves room for
// the suffix of its Jobs. Loaded by tests, the test API server and `render --check`; nothing at run time.
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { dnsLabelProblem, dnsSubdomainProblem, labelKeyProblem, labelValueProblem } from '../config/kubernetes-config.ts';

interface Validatable { validate(): void }
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'batch/v1/CronJob': CronJob as unknown as ModelClass,
  'batch/v1/Job': Job as unknown as ModelClass,
  'networking.k8s.io/v1/Ingress': Ingress as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/Role': Role as unknown as ModelClass,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding as unknown as ModelClass,
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'v1/Pod': Pod as unknown as ModelClass,
  'v1/Secret': Secret as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
  'v1/ServiceAccount': ServiceAccount as unknown as ModelClass,
};

// A CronJob's Jobs are named `<cronjob>-<11 digits>` and a Job name must fit a 63-character label.
const MAX_CRONJOB_NAME = 52;
const MAX_JOB_NAME = 63;
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);
const at = (value: unknown, ...path: string[]): unknown => path.reduce<unknown>((v, key) => (isObj(v) ? v[key] : undefined), value);

/** Every problem with a Kubernetes object, each naming the object and the field; empty when it is valid. */
export function validateManifest(obj: unknown): string[] {
  if (!isObj(obj)) return [`expected a Kubernetes object, got ${Array.isArray(obj) ? 'a list' : typeof obj}`];
  // Through JSON, as it goes over the wire: client-node objects may hold undefined fields and Dates.
  const data = JSON.parse(JSON.stringify(obj)) as Obj;
  const apiVersion = data.apiVersion;
  const kind = data.kind;
  const name = typeof at(data, 'metadata', 'name') === 'string' ? (at(data, 'metadata', 'name') as string) : '';
  const what = `${typeof kind === 'string' ? kind : 'object'}${name ? ` ${name}` : ''}`;
  const problems: string[] = [];
  const say = (field: string, message: string) => problems.push(`${what}: ${field}: ${message}`);

  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    return [`${what}: apiVersion and kind must be strings`];
  }
  const Model = MODELS[`${apiVersion}/${kind}`];
  if (!Model) return [`${what}: unsupported apiVersion/kind ${apiVersion}/${kind}`];
  try {
    new Model(data as never).validate();
  } catch (error) {
    // kubernetes-models reports "data/spec/x must be string"; show it as a field path.
    say('schema', (error as Error).message.replace(/(^|, )data\//g, '$1').replace(/(^|, )data /g, '$1'));
  }

  checkMetadata(data.metadata, 'metadata', say, { kind, requireName: true });
  if (kind === 'Job') {
    checkName(name, 'metadata.name', say, MAX_JOB_NAME);
    checkPodTemplate(at(data, 'spec', 'template'), 'spec.template', say, ['Never', 'OnFailure']);
  } else if (kind === 'CronJob') {
    checkName(name, 'metadata.name', say, MAX_CRONJOB_NAME);
    checkMetadata(at(data, 'spec', 'jobTemplate', 'metadata'), 'spec.jobTemplate.metadata', say, { kind });
    checkPodTemplate(at(data, 'spec', 'jobTemplate', 'spec', 'template'), 'spec.jobTemplate.spec.template', say, ['Never', 'OnFailure']);
  } else if (kind === 'Deployment') {
    checkPodTemplate(at(data, 'spec', 'template'), 'spec.template', say, ['Always']);
    checkSelector(data, say);
  } else if (kind === 'Pod') {
    checkPodSpec(data.spec, 'spec', say, ['Always', 'OnFailure', 'Never']);
  } else if (kind === 'Service') {
    const problem = name ? dnsLabelProblem(name) : null;
    if (problem) say('metadata.name', `a Service name ${problem}`);
  }
  return problems;
}

type Say = (field: string, message: string) => void;

function checkName(name: string, field: string, say: Say, max: number): void {
  if (name.length > max) say(field, `must be at most ${max} characters, got ${name.length}`);
}

function checkMetadata(metadata: unknown, field: string, say: Say, options: { kind: string; requireName?: boolean }): void {
  if (!isObj(metadata)) {
    if (options.requireName) say(field, 'is required');
    return;
  }
  const name = metadata.name;
  if (options.requireName && typeof name !== 'string' && typeof metadata.generateName !== 'string') say(`${field}.name`, 'is required');
  if (typeof name === 'string') {
    const problem = dnsSubdomainProblem(name);
    if (problem) say(`${field}.name`, `${JSON.stringify(name)} ${problem}`);
  }
  if (typeof metadata.namespace === 'string') {
    const problem = dnsLabelProblem(metadata.namespace);
    if (problem) say(`${field}.namespace`, `${JSON.stringify(metadata.namespace)} ${problem}`);
  }
  if (isObj(metadata.labels)) {
    for (const [key, value] of Object.entries(metadata.labels)) {
      const keyProblem = labelKeyProblem(key);
      if (keyProblem) say(`${field}.labels`, `label key ${JSON.stringify(key)}: ${keyProblem}`);
      const valueProblem = typeof value === 'string' ? labelValueProblem(value) : 'must be a string';
      if (valueProblem) say(`${field}.labels.${key}`, `label value ${JSON.stringify(value)} ${valueProblem}`);
    }
  }
  if (isObj(metadata.annotations)) {
    for (const [key, value] of Object.entries(metadata.annotations)) {
      const keyProblem = labelKeyProblem(key);
      if (keyProblem) say(`${field}.annotations`, `annotation key ${JSON.stringify(key)}: ${keyProblem}`);
      if (typeof value !== 'string') say(`${field}.annotations.${key}`, 'must be a string');
    }
  }
}

function checkPodTemplate(template: unknown, field: string, say: Say, restartPolicies: string[]): void {
  if (!isObj(template)) {
    say(field, 'is required');
    return;
  }
  checkMetadata(template.metadata, `${field}.metadata`, say, { kind: 'PodTemplate' });
  checkPodSpec(template.spec, `${field}.spec`, say, restartPolicies);
}

function checkPodSpec(spec: unknown, field: string, say: Say, restartPolicies: string[]): void {
  if (!isObj(spec)) {
    say(field, 'is required');
    return;
  }
  // Unset means Always, which a Job's pod may not have: the API server rejects it.
  const policy = spec.restartPolicy ?? 'Always';
  if (typeof policy !== 'string' || !restartPolicies.includes(policy)) {
    say(`${field}.restartPolicy`, `must be ${restartPolicies.join(' or ')}, got ${JSON.stringify(spec.restartPolicy ?? null)}${spec.restartPolicy === undefined ? ' (unset means Always)' : ''}`);
  }
  const volumes = new Set(Array.isArray(spec.volumes) ? spec.volumes.map((v) => (isObj(v) ? v.name : undefined)) : []);
  const containers = [
    ...(Array.isArray(spec.initContainers) ? spec.initContainers.map((c, i) => [c, `${field}.initContainers[${i}]`] as const) : []),
    ...(Array.isArray(spec.containers) ? spec.containers.map((c, i) => [c, `${field}.containers[${i}]`] as const) : []),
  ];
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) say(`${field}.containers`, 'must list at least one container');
  const names = new Set<string>();
  for (const [container, path] of containers) {
    if (!isObj(container)) continue;
    if (typeof container.name === 'string') {
      const problem = dnsLabelProblem(container.name);
      if (problem) say(`${path}.name`, `${JSON.stringify(container.name)} ${problem}`);
      if (names.has(container.name)) say(`${path}.name`, `duplicate container name ${JSON.stringify(container.name)}`);
      names.add(container.name);
    }
    if (typeof container.image !== 'string' || container.image.trim() === '') say(`${path}.image`, 'is required');
    const envNames = new Set<string>();
    for (const [i, env] of (Array.isArray(container.env) ? container.env : []).entries()) {
      if (!isObj(env) || typeof env.name !== 'string') continue;
      if (!ENV_NAME.test(env.name)) say(`${path}.env[${i}].name`, `invalid environment variable name ${JSON.stringify(env.name)}`);
      if (envNames.has(env.name)) say(`${path}.env[${i}].name`, `duplicate environment variable ${JSON.stringify(env.name)}`);
      envNames.add(env.name);
      if (env.value !== undefined && env.valueFrom !== undefined) say(`${path}.env[${i}]`, 'may not have both value and valueFrom');
      if (isObj(env.valueFrom) && Object.keys(env.valueFrom).length !== 1) say(`${path}.env[${i}].valueFrom`, 'must have exactly one source');
    }
    for (const [i, mount] of (Array.isArray(container.volumeMounts) ? container.volumeMounts : []).entries()) {
      if (isObj(mount) && !volumes.has(mount.name)) say(`${path}.volumeMounts[${i}].name`, `no volume named ${JSON.stringify(mount.name)} in the pod`);
    }
  }
}

function checkSelector(data: Obj, say: Say): void {
  const selector = at(data, 'spec', 'selector', 'matchLabels');
  const labels = at(data, 'spec', 'template', 'metadata', 'labels');
  if (!isObj(selector)) {
    say('spec.selector.matchLabels', 'is required');
    return;
  }
  for (const [key, value] of Object.entries(selector)) {
    if (!isObj(labels) || labels[key] !== value) say('spec.selector', `does not match the template labels (${key}=${String(value)})`);
  }
}
