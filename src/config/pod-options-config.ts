// The pod options of kubescribe.yaml: what a job's Kubernetes pod gets beyond its command and image —
// Secrets and ConfigMaps as env, volumes, labels and annotations, where it is scheduled, its identity
// and security context. The same keys are read per job and as `kubernetes:` defaults; mergePodOptions
// says how the two combine. Only references to Secrets ever appear here, never their values.
import { isMap } from 'yaml';
import { describeValue } from './durations.ts';
import { join, type Entry, type Reader } from './yaml-reader.ts';
import type { ResourceSettings, TolerationSettings } from './kubernetes-config.ts';

/** An env var from one key of a Secret or a ConfigMap: `{secret: s3-creds, key: secret}`. */
export interface EnvRefSettings { secret?: string; config_map?: string; key: string; optional?: boolean }

/** A whole Secret or ConfigMap as env: `{secret: s3-creds}`, `{config_map: etl, prefix: ETL_}`. */
export interface EnvFromSettings { secret?: string; config_map?: string; prefix?: string; optional?: boolean }

/** One pod volume: exactly one of pvc, secret, config_map, empty_dir. */
export interface VolumeSettings {
  name: string;
  pvc?: string; secret?: string; config_map?: string;
  empty_dir?: { size_limit?: string; medium?: 'Memory' };
  /** pvc: mount the claim read-only; secret/config_map: a missing object does not stop the pod. */
  read_only?: boolean; optional?: boolean;
}

export interface VolumeMountSettings { name: string; path: string; read_only?: boolean; sub_path?: string }

/** What a job may change in the hardened security context; privilege is never on the list. */
export interface SecurityContextSettings {
  run_as_user?: number; run_as_group?: number; fs_group?: number; run_as_non_root?: boolean;
  read_only_root_filesystem?: boolean;
}

export interface PodOptions {
  /** Env vars from Secret or ConfigMap keys, by variable name (plain values stay in the job's `env`). */
  env_refs?: Record<string, EnvRefSettings>;
  env_from?: EnvFromSettings[];
  volumes?: VolumeSettings[];
  volume_mounts?: VolumeMountSettings[];
  pod_annotations?: Record<string, string>;
  pod_labels?: Record<string, string>;
  priority_class?: string;
  /** A Kubernetes `affinity` object as written (camelCase keys), checked by the Pod schema. */
  affinity?: Record<string, unknown>;
  security_context?: SecurityContextSettings;
  // Also top-level `kubernetes:` settings (with their defaults); per job these replace them.
  service_account?: string;
  image_pull_policy?: 'Always' | 'IfNotPresent' | 'Never';
  node_selector?: Record<string, string>;
  tolerations?: TolerationSettings[];
  resources?: ResourceSettings;
}

/** Keys of the pod options that are new in both places (the others already were `kubernetes:` keys). */
export const POD_OPTION_KEYS = ['env_from', 'volumes', 'volume_mounts', 'pod_annotations', 'pod_labels', 'priority_class', 'affinity', 'security_context'];
/** The label prefixes KubeScribe owns: the run id, job name and managed-by labels select what it created. */
export const RESERVED_LABEL_PREFIXES = ['kubescribe.io/', 'app.kubernetes.io/managed-by', 'batch.kubernetes.io/', 'controller-uid', 'job-name'];
/** Volume names and mount paths every job pod already uses (src/kubernetes/manifests.ts). */
export const RESERVED_VOLUMES = ['kubescribe-config', 'kubescribe-token'];
export const RESERVED_PATHS = ['/etc/kubescribe', '/var/run/secrets/kubescribe'];

const ENV_FROM_KEYS = ['secret', 'config_map', 'prefix', 'optional'];
const ENV_REF_KEYS = ['secret', 'config_map', 'key', 'optional'];
const VOLUME_KEYS = ['name', 'pvc', 'secret', 'config_map', 'empty_dir', 'read_only', 'optional'];
const EMPTY_DIR_KEYS = ['size_limit', 'medium'];
const MOUNT_KEYS = ['name', 'path', 'read_only', 'sub_path'];
const SECURITY_KEYS = ['run_as_user', 'run_as_group', 'fs_group', 'run_as_non_root', 'read_only_root_filesystem'];
// Asked for, and refused with the reason: job pods never get more privilege than the defaults give.
const REFUSED_SECURITY = ['privileged', 'allow_privilege_escalation', 'capabilities', 'run_as_root'];
const AFFINITY_KEYS = ['nodeAffinity', 'podAffinity', 'podAntiAffinity'];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/;

function objectName(r: Reader, e: Entry, label = false): string | undefined {
  const value = r.string(e);
  if (value === undefined) return undefined;
  const ok = label ? DNS_LABEL.test(value) && value.length <= 63 : DNS_SUBDOMAIN.test(value) && value.length <= 253;
  if (!ok) {
    r.report(e.line, e.path, `invalid name ${describeValue(value)}: must be lowercase letters, digits, "-"${label ? '' : ' and "."'}, starting and ending with a letter or digit`);
    return undefined;
  }
  return value;
}

function bool(r: Reader, e: Entry): boolean | undefined {
  const value = r.plain(e.value);
  if (typeof value === 'boolean') return value;
  r.report(e.line, e.path, `expected true or false, got ${describeValue(value)}`);
  return undefined;
}

/** Exactly one of `secret` and `config_map` in a reference map. */
function oneSource(r: Reader, line: number | null, path: string, ref: { secret?: string; config_map?: string }, seen: string[]): boolean {
  const given = seen.filter((k) => k === 'secret' || k === 'config_map');
  if (given.length === 1) return ref.secret !== undefined || ref.config_map !== undefined;
  r.report(line, path, given.length === 0 ? 'give the Secret (`secret: name`) or the ConfigMap (`config_map: name`) to read from' : 'give either `secret` or `config_map`, not both');
  return false;
}

/** An `env:` value that is a map: a reference to a Secret or ConfigMap key, or undefined after reporting why not. */
export function readEnvRef(r: Reader, e: Entry): EnvRefSettings | undefined {
  const ref: Partial<EnvRefSettings> = {};
  const entries = r.entries(e.value, e.path, e.line, ENV_REF_KEYS, 'a string or a Secret key reference such as {secret: s3-creds, key: secret}');
  if (!entries) return undefined;
  for (const entry of entries) {
    if (entry.key === 'secret') ref.secret = objectName(r, entry);
    else if (entry.key === 'config_map') ref.config_map = objectName(r, entry);
    else if (entry.key === 'optional') ref.optional = bool(r, entry);
    else {
      const key = r.string(entry);
      if (key !== undefined && !SECRET_KEY.test(key)) r.report(entry.line, entry.path, `invalid key ${describeValue(key)}: use letters, digits, "-", "_" and "."`);
      else ref.key = key;
    }
  }
  if (!oneSource(r, e.line, e.path, ref, entries.map((x) => x.key))) return undefined;
  if (!entries.some((x) => x.key === 'key')) {
    r.report(e.line, join(e.path, 'key'), 'required key is missing: the key inside the Secret or ConfigMap');
    return undefined;
  }
  return ref.key === undefined ? undefined : (ref as EnvRefSettings);
}

function readEnvFrom(r: Reader, e: Entry): EnvFromSettings[] {
  const out: EnvFromSettings[] = [];
  for (const item of r.items(e.value, e.path, e.line, 'a list such as [{secret: s3-creds}, {config_map: etl-settings}]') ?? []) {
    const from: EnvFromSettings = {};
    const entries = r.entries(item.node, item.path, item.line, ENV_FROM_KEYS, 'a map such as {secret: s3-creds}');
    if (!entries) continue;
    for (const entry of entries) {
      if (entry.key === 'secret') from.secret = objectName(r, entry);
      else if (entry.key === 'config_map') from.config_map = objectName(r, entry);
      else if (entry.key === 'optional') from.optional = bool(r, entry);
      else {
        const prefix = r.string(entry);
        if (prefix !== undefined && !ENV_PREFIX.test(prefix)) r.report(entry.line, entry.path, `invalid prefix ${describeValue(prefix)}: use letters, digits and "_", not starting with a digit`);
        else from.prefix = prefix;
      }
    }
    if (oneSource(r, item.line, item.path, from, entries.map((x) => x.key))) out.push(from);
  }
  return out;
}

function readVolumes(r: Reader, e: Entry): VolumeSettings[] {
  const out: VolumeSettings[] = [];
  const names = new Set<string>();
  for (const item of r.items(e.value, e.path, e.line, 'a list of volumes such as [{name: models, pvc: model-store}]') ?? []) {
    const entries = r.entries(item.node, item.path, item.line, VOLUME_KEYS, 'a volume map such as {name: models, pvc: model-store}');
    if (!entries) continue;
    const volume: Partial<VolumeSettings> = {};
    for (const entry of entries) {
      switch (entry.key) {
        case 'name': volume.name = objectName(r, entry, true); break;
        case 'pvc': volume.pvc = objectName(r, entry); break;
        case 'secret': volume.secret = objectName(r, entry); break;
        case 'config_map': volume.config_map = objectName(r, entry); break;
        case 'read_only': volume.read_only = bool(r, entry); break;
        case 'optional': volume.optional = bool(r, entry); break;
        case 'empty_dir': {
          volume.empty_dir = {};
          for (const sub of r.entries(entry.value, entry.path, entry.line, EMPTY_DIR_KEYS) ?? []) {
            if (sub.key === 'medium') {
              const medium = r.oneOf(sub, ['Memory'] as const);
              if (medium) volume.empty_dir.medium = medium;
            } else {
              const text = r.scalarText(sub.value);
              if (text === undefined || !QUANTITY.test(text)) r.report(sub.line, sub.path, `expected a Kubernetes quantity such as "10Gi", got ${describeValue(r.plain(sub.value))}`);
              else volume.empty_dir.size_limit = text;
            }
          }
          break;
        }
      }
    }
    const kinds = entries.filter((x) => ['pvc', 'secret', 'config_map', 'empty_dir'].includes(x.key)).map((x) => x.key);
    if (!entries.some((x) => x.key === 'name')) r.report(item.line, join(item.path, 'name'), 'required key is missing');
    if (kinds.length !== 1) {
      r.report(item.line, item.path, kinds.length === 0
        ? 'give the volume\'s source: one of pvc, secret, config_map, empty_dir'
        : `give one source per volume, got ${kinds.join(' and ')}`);
      continue;
    }
    if (volume.read_only !== undefined && !volume.pvc) r.report(item.line, join(item.path, 'read_only'), 'only a pvc volume takes read_only here; use read_only on the volume mount');
    if (volume.optional !== undefined && !volume.secret && !volume.config_map) r.report(item.line, join(item.path, 'optional'), 'only secret and config_map volumes can be optional');
    if (volume.name === undefined) continue;
    if (RESERVED_VOLUMES.includes(volume.name)) {
      r.report(item.line, join(item.path, 'name'), `"${volume.name}" is a volume KubeScribe adds to every job pod; choose another name`);
      continue;
    }
    if (names.has(volume.name)) r.report(item.line, join(item.path, 'name'), `volume "${volume.name}" is declared twice`);
    names.add(volume.name);
    out.push(volume as VolumeSettings);
  }
  return out;
}

function readMounts(r: Reader, e: Entry): VolumeMountSettings[] {
  const out: VolumeMountSettings[] = [];
  for (const item of r.items(e.value, e.path, e.line, 'a list of mounts such as [{name: models, path: /models}]') ?? []) {
    const entries = r.entries(item.node, item.path, item.line, MOUNT_KEYS, 'a mount map such as {name: models, path: /models}');
    if (!entries) continue;
    const mount: Partial<VolumeMountSettings> = {};
    for (const entry of entries) {
      switch (entry.key) {
        case 'name': mount.name = objectName(r, entry, true); break;
        case 'read_only': mount.read_only = bool(r, entry); break;
        case 'sub_path': mount.sub_path = r.string(entry); break;
        case 'path': {
          const path = r.string(entry);
          if (path === undefined) break;
          if (!path.startsWith('/')) r.report(entry.line, entry.path, `expected an absolute path, got ${describeValue(path)}`);
          else if (RESERVED_PATHS.some((p) => path === p || path.startsWith(`${p}/`) || p.startsWith(`${path.replace(/\/+$/, '')}/`))) {
            r.report(entry.line, entry.path, `${path} would hide or share a path KubeScribe mounts in every job pod (${RESERVED_PATHS.join(', ')})`);
          } else mount.path = path.replace(/(.)\/+$/, '$1');
          break;
        }
      }
    }
    for (const required of ['name', 'path'] as const) {
      if (!entries.some((x) => x.key === required)) r.report(item.line, join(item.path, required), 'required key is missing');
    }
    if (mount.name !== undefined && mount.path !== undefined) out.push(mount as VolumeMountSettings);
  }
  return out;
}

function readSecurityContext(r: Reader, e: Entry): SecurityContextSettings {
  const out: SecurityContextSettings = {};
  for (const entry of r.entries(e.value, e.path, e.line) ?? []) {
    if (REFUSED_SECURITY.includes(entry.key)) {
      const value = r.plain(entry.value);
      // Asking for what the defaults already are is fine.
      if ((entry.key === 'allow_privilege_escalation' || entry.key === 'privileged') && value === false) continue;
      r.report(entry.keyLine, entry.path, `refused: job pods run with privileged: false, allow_privilege_escalation: false and every capability dropped; `
        + `a job may only set ${SECURITY_KEYS.join(', ')}`);
      continue;
    }
    if (!SECURITY_KEYS.includes(entry.key)) {
      r.report(entry.keyLine, entry.path, `unknown key "${entry.key}": a job may set ${SECURITY_KEYS.join(', ')}`);
      continue;
    }
    if (entry.key === 'run_as_non_root' || entry.key === 'read_only_root_filesystem') {
      const value = bool(r, entry);
      if (value !== undefined) out[entry.key] = value;
      continue;
    }
    const id = r.plain(entry.value);
    if (typeof id === 'number' && Number.isInteger(id) && id >= 0 && id <= 2147483647) out[entry.key as 'run_as_user'] = id;
    else r.report(entry.line, entry.path, `expected a numeric id from 0 to 2147483647, got ${describeValue(id)}`);
  }
  if (out.run_as_non_root === true && out.run_as_user === 0) r.report(e.line, join(e.path, 'run_as_user'), 'run_as_user: 0 is root, which run_as_non_root: true forbids');
  return out;
}

function readAffinity(r: Reader, e: Entry): Record<string, unknown> | undefined {
  // Kubernetes' own shape, camelCase as in any manifest: a translation would only add a dialect to learn.
  const entries = r.entries(e.value, e.path, e.line, AFFINITY_KEYS, 'an affinity map (nodeAffinity, podAffinity, podAntiAffinity) as in a pod spec');
  if (!entries) return undefined;
  return r.plain(e.value) as Record<string, unknown>;
}

function readLabelMap(r: Reader, e: Entry, labels: boolean, keyProblem: (key: string) => string | null, valueProblem: (value: string) => string | null): Record<string, string> {
  const map = r.stringMap(e, (key) => {
    if (labels && RESERVED_LABEL_PREFIXES.some((p) => key === p || key.startsWith(p))) {
      return `"${key}" is a label KubeScribe sets and selects its Jobs and pods by (${RESERVED_LABEL_PREFIXES.join(', ')}); choose another label`;
    }
    return keyProblem(key);
  });
  for (const [key, value] of Object.entries(map)) {
    const problem = valueProblem(value);
    if (problem) r.report(e.line, join(e.path, key), `invalid value ${describeValue(value)}: ${problem}`);
  }
  if (labels) for (const key of Object.keys(map)) if (RESERVED_LABEL_PREFIXES.some((p) => key === p || key.startsWith(p))) delete map[key];
  return map;
}

/** Reads one of POD_OPTION_KEYS into `into`, per job or in the `kubernetes:` section. */
export function readPodOption(
  r: Reader, e: Entry, into: PodOptions,
  checks: { labelKey: (key: string) => string | null; labelValue: (value: string) => string | null },
): void {
  switch (e.key) {
    case 'env_from': into.env_from = readEnvFrom(r, e); break;
    case 'volumes': into.volumes = readVolumes(r, e); break;
    case 'volume_mounts': into.volume_mounts = readMounts(r, e); break;
    case 'pod_labels': into.pod_labels = readLabelMap(r, e, true, checks.labelKey, checks.labelValue); break;
    // Annotation values are free text; keys follow the label-key rule.
    case 'pod_annotations': into.pod_annotations = readLabelMap(r, e, false, checks.labelKey, () => null); break;
    case 'priority_class': into.priority_class = objectName(r, e); break;
    case 'affinity': into.affinity = readAffinity(r, e); break;
    case 'security_context': into.security_context = readSecurityContext(r, e); break;
  }
}

/**
 * The pod options of one job: the job's own over the `kubernetes:` defaults. Maps merge key by key
 * (env, pod_labels, pod_annotations, node_selector), volumes by name and mounts by path, env_from lists
 * add up, security_context merges field by field; the rest (affinity, tolerations, resources,
 * priority_class, service_account, image_pull_policy) is replaced whole by the job's value.
 */
export function mergePodOptions(defaults: PodOptions, job: PodOptions | undefined): PodOptions {
  if (!job) return { ...defaults };
  const byKey = <T>(list: T[] | undefined, more: T[] | undefined, key: (item: T) => string): T[] | undefined => {
    if (!list && !more) return undefined;
    const map = new Map<string, T>();
    for (const item of [...(list ?? []), ...(more ?? [])]) map.set(key(item), item);
    return [...map.values()];
  };
  const maps = <T>(a: Record<string, T> | undefined, b: Record<string, T> | undefined) => (a || b ? { ...a, ...b } : undefined);
  const out: PodOptions = { ...defaults };
  for (const [key, value] of Object.entries(job)) if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  out.env_refs = maps(defaults.env_refs, job.env_refs);
  out.pod_labels = maps(defaults.pod_labels, job.pod_labels);
  out.pod_annotations = maps(defaults.pod_annotations, job.pod_annotations);
  out.node_selector = maps(defaults.node_selector, job.node_selector);
  out.security_context = defaults.security_context || job.security_context ? { ...defaults.security_context, ...job.security_context } : undefined;
  out.env_from = byKey(defaults.env_from, job.env_from, (f) => `${f.secret ? 's' : 'c'}:${f.secret ?? f.config_map}:${f.prefix ?? ''}`);
  out.volumes = byKey(defaults.volumes, job.volumes, (v) => v.name);
  out.volume_mounts = byKey(defaults.volume_mounts, job.volume_mounts, (m) => m.path);
  for (const key of Object.keys(out) as (keyof PodOptions)[]) if (out[key] === undefined) delete out[key];
  return out;
}

// Names and values that are credentials in all but name: a plain `env` value sits in kubescribe.yaml, in
// the ConfigMap every job pod mounts and in each job revision, readable by anyone who can read those.
const CREDENTIAL_NAME = /(^|_)(PASSWORD|PASSWD|PASS|SECRET|TOKEN|KEY|CREDENTIALS?|APIKEY)$/i;
const CREDENTIAL_VALUES: { re: RegExp; what: string }[] = [
  { re: /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:[^/\s@]+@/i, what: 'a URL with a password' },
  { re: /\bksk_[A-Za-z0-9_-]{8,}/, what: 'a KubeScribe API token' },
  { re: /\b(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}/, what: 'a GitHub token' },
  { re: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/, what: 'an AWS access key id' },
  { re: /\bxox[abposr]-[A-Za-z0-9-]{10,}/, what: 'a Slack token' },
  { re: /-----BEGIN [A-Z ]*PRIVATE KEY-----/, what: 'a private key' },
];

/** Why a plain `env` entry looks like a credential, or null. */
export function plainCredentialProblem(name: string, value: string): string | null {
  const hint = 'plain env values are stored in the config ConfigMap and in every job revision; put it in a Secret and use '
    + `\`env: {${name}: {secret: <secret name>, key: <key>}}\` or \`env_from: [{secret: <secret name>}]\``;
  const found = CREDENTIAL_VALUES.find(({ re }) => re.test(value));
  if (found) return `the value looks like ${found.what}: ${hint}`;
  if (value !== '' && CREDENTIAL_NAME.test(name)) return `"${name}" names a credential: ${hint}`;
  return null;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * An `env:` map: plain strings (refused when they look like credentials) and Secret or ConfigMap key
 * references (`NAME: {secret: s3-creds, key: secret}`), which only the Kubernetes executor can resolve.
 */
export function readEnv(r: Reader, e: Entry): { env: Record<string, string>; refs: Record<string, EnvRefSettings> } {
  const env: Record<string, string> = {};
  const refs: Record<string, EnvRefSettings> = {};
  for (const entry of r.entries(e.value, e.path, e.line) ?? []) {
    if (!ENV_NAME.test(entry.key)) {
      r.report(entry.keyLine, entry.path, `invalid environment variable name "${entry.key}": use letters, digits and "_", not starting with a digit`);
    }
    if (isMap(entry.value)) {
      const ref = readEnvRef(r, entry);
      if (ref) refs[entry.key] = ref;
      continue;
    }
    const text = r.scalarText(entry.value);
    if (text === undefined) {
      r.report(entry.line, entry.path, `expected a string value (or a Secret key reference such as {secret: s3-creds, key: secret}), got ${describeValue(r.plain(entry.value))}`);
      continue;
    }
    const problem = plainCredentialProblem(entry.key, text);
    if (problem) r.report(entry.line, entry.path, problem);
    else env[entry.key] = text;
  }
  return { env, refs };
}
