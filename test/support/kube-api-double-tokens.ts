// ServiceAccount tokens in the Kubernetes API double: what the TokenRequest API issues (a pod-bound,
// audience-scoped, expiring JWT, as the kubelet projects into a pod) and what the TokenReview API
// (POST /apis/authentication.k8s.io/v1/tokenreviews) answers about one, following kube-apiserver's
// serviceaccount authenticator: unknown or altered tokens, expired ones, tokens for another audience
// and tokens whose pod is gone (or was replaced: another uid) are `authenticated: false` with an
// error; a good one names the ServiceAccount and carries the pod's name and uid in `user.extra`.
// Differences from a real cluster: the signature is random bytes the double remembers (it checks the
// token by lookup, so any change to header or payload makes it unknown, as a broken signature would),
// and ServiceAccounts are not stored objects (their uid is made up on first use and never checked).
import { randomBytes, randomUUID } from 'node:crypto';
import type { KubeObject } from './kube-api-double.ts';

/** kube-apiserver's own audience: what a TokenReview without `spec.audiences` checks against. */
export const API_SERVER_AUDIENCE = 'https://kubernetes.default.svc.cluster.local';
const ISSUER = API_SERVER_AUDIENCE;
export const POD_NAME_EXTRA = 'authentication.kubernetes.io/pod-name';
export const POD_UID_EXTRA = 'authentication.kubernetes.io/pod-uid';
// A bound token stays valid this long after its pod started terminating (kube-apiserver: 60 s).
const DELETED_POD_GRACE_MS = 60_000;
const SPEC_FIELDS = new Set(['token', 'audiences']);
const TOP_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

export interface IssueTokenOptions {
  namespace: string;
  /** The pod the token is bound to (its uid is read now); none: a token bound to nothing but its ServiceAccount. */
  pod?: string;
  /** Default: the pod's spec.serviceAccountName, else "default". */
  serviceAccount?: string;
  audiences?: string[];
  /** Default 3600 s from now. */
  expirationSeconds?: number;
  /** Overrides expirationSeconds: an exact expiry, in the past for an expired token. */
  expiresAt?: Date;
}

interface Claims {
  namespace: string;
  serviceAccount: string;
  serviceAccountUid: string;
  pod: { name: string; uid: string } | null;
  audiences: string[];
  exp: number;
  jti: string;
}

export interface TokenReviewAnswer { code: number; body: KubeObject; warning?: string }

/** The double's token authority; `getPod` reads the double's store. */
export class TokenAuthority {
  private readonly tokens = new Map<string, Claims>();
  private readonly accountUids = new Map<string, string>();

  constructor(private readonly getPod: (namespace: string, name: string) => KubeObject | undefined) {}

  /** A token as TokenRequest (or the kubelet, for a projected volume) would issue it. */
  issue(options: IssueTokenOptions): string {
    const pod = options.pod === undefined ? undefined : this.getPod(options.namespace, options.pod);
    if (options.pod !== undefined && !pod) throw new Error(`no pod ${options.namespace}/${options.pod} to bind a token to`);
    const serviceAccount = options.serviceAccount ?? pod?.spec?.serviceAccountName ?? 'default';
    const accountKey = `${options.namespace}/${serviceAccount}`;
    if (!this.accountUids.has(accountKey)) this.accountUids.set(accountKey, randomUUID());
    const now = Date.now();
    const expiresAt = options.expiresAt?.getTime() ?? now + (options.expirationSeconds ?? 3600) * 1000;
    const claims: Claims = {
      namespace: options.namespace, serviceAccount, serviceAccountUid: this.accountUids.get(accountKey)!,
      pod: pod ? { name: pod.metadata.name, uid: pod.metadata.uid } : null,
      audiences: options.audiences ?? [API_SERVER_AUDIENCE], exp: Math.floor(expiresAt / 1000), jti: randomUUID(),
    };
    const payload = {
      aud: claims.audiences, exp: claims.exp, iat: Math.floor(now / 1000), iss: ISSUER, jti: claims.jti, nbf: Math.floor(now / 1000),
      sub: `system:serviceaccount:${claims.namespace}:${serviceAccount}`,
      'kubernetes.io': {
        namespace: claims.namespace,
        ...(claims.pod ? { pod: claims.pod, node: { name: 'node-1', uid: 'node-1-uid' } } : {}),
        serviceaccount: { name: serviceAccount, uid: claims.serviceAccountUid },
      },
    };
    const token = [b64({ alg: 'RS256', kid: 'kubescribe-double' }), b64(payload), randomBytes(64).toString('base64url')].join('.');
    this.tokens.set(token, claims);
    return token;
  }

  /** POST tokenreviews: 201 with the review's status, or 400 for a request the API server refuses. */
  review(body: KubeObject, query: URLSearchParams): TokenReviewAnswer {
    if (body.apiVersion !== 'authentication.k8s.io/v1' || body.kind !== 'TokenReview') {
      return { code: 400, body: badRequest(`the API version in the data (${body.apiVersion}) and kind (${body.kind}) do not match authentication.k8s.io/v1 TokenReview`) };
    }
    // Unknown fields: dropped with a Warning header, or refused with fieldValidation=Strict (as since 1.27).
    const unknown = [
      ...Object.keys(body).filter((field) => !TOP_FIELDS.has(field)),
      ...Object.keys(body.spec ?? {}).filter((field) => !SPEC_FIELDS.has(field)).map((field) => `spec.${field}`),
    ];
    if (unknown.length > 0 && query.get('fieldValidation') === 'Strict') {
      return { code: 400, body: badRequest(`strict decoding error: ${unknown.map((field) => `unknown field "${field}"`).join(', ')}`) };
    }
    const token = body.spec?.token;
    if (typeof token !== 'string' || token === '') return { code: 400, body: badRequest('token is required for TokenReview in authentication') };
    const audiences = body.spec?.audiences;
    if (audiences !== undefined && (!Array.isArray(audiences) || audiences.some((a) => typeof a !== 'string'))) {
      return { code: 400, body: badRequest('TokenReview in version "v1" cannot be handled as a TokenReview: json: cannot unmarshal into Go struct field TokenReviewSpec.spec.audiences of type []string') };
    }
    const spec: KubeObject = { token, ...(audiences ? { audiences } : {}) };
    const answer = (status: KubeObject): TokenReviewAnswer => ({
      code: 201,
      body: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status },
      ...(unknown.length > 0 ? { warning: unknown.map((field) => `299 - "unknown field \\"${field}\\""`).join(', ') } : {}),
    });
    const refuse = (reason: string) => answer({ user: {}, error: `[invalid bearer token, ${reason}]` });
    const claims = this.tokens.get(token);
    if (!claims) return refuse('square/go-jose: error in cryptographic primitive');
    if (claims.exp * 1000 <= Date.now()) return refuse('service account token has expired');
    const wanted: string[] = audiences && audiences.length > 0 ? audiences : [API_SERVER_AUDIENCE];
    const granted = wanted.filter((audience) => claims.audiences.includes(audience));
    if (granted.length === 0) {
      return refuse(`token audiences ${JSON.stringify(claims.audiences)} is invalid for the target audiences ${JSON.stringify(wanted)}`);
    }
    const extra: Record<string, string[]> = { 'authentication.kubernetes.io/credential-id': [`JTI=${claims.jti}`] };
    if (claims.pod) {
      const pod = this.getPod(claims.namespace, claims.pod.name);
      if (!pod) return refuse(`pods "${claims.pod.name}" not found`);
      if (pod.metadata.uid !== claims.pod.uid) return refuse(`pod UID (${pod.metadata.uid}) does not match claim (${claims.pod.uid})`);
      const deleting = pod.metadata.deletionTimestamp ? Date.parse(pod.metadata.deletionTimestamp) : null;
      if (deleting !== null && deleting < Date.now() - DELETED_POD_GRACE_MS) return refuse('token has been invalidated');
      extra[POD_NAME_EXTRA] = [claims.pod.name];
      extra[POD_UID_EXTRA] = [claims.pod.uid];
      extra['authentication.kubernetes.io/node-name'] = ['node-1'];
      extra['authentication.kubernetes.io/node-uid'] = ['node-1-uid'];
    }
    return answer({
      authenticated: true,
      user: {
        username: `system:serviceaccount:${claims.namespace}:${claims.serviceAccount}`,
        uid: claims.serviceAccountUid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${claims.namespace}`, 'system:authenticated'],
        extra,
      },
      audiences: granted,
    });
  }
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function badRequest(message: string): KubeObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason: 'BadRequest', code: 400 };
}
