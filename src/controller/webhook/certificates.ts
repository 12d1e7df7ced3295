// The admission webhook's TLS: a CA and a serving certificate signed by it, kept in one Secret of
// the credentials namespace (type kubernetes.io/tls: tls.crt, tls.key, ca.crt, ca.key, and
// ca-bundle.crt, the CAs a client must trust). Every replica watches the Secret and serves its pair
// (start/current/onChange); the leader keeps it true (lead): creates it, renews the serving
// certificate when a third of its life is left, repairs it when it is edited or deleted, and
// rotates the CA in steps so that no client ever meets a certificate its bundle does not hold:
//   1. a new CA is made; the bundle holds it and the previous CA, the served certificate is still
//      the one the previous CA signed (the annotation records when the new CA was published);
//   2. once the bundle has been out for caOverlapMs, the served certificate is issued by the new CA;
//   3. the previous CA leaves the bundle when it expires.
// Keys are never logged: log lines carry reasons, times and certificate fingerprints only.
import { X509Certificate, createHash, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { COMPONENT_LABEL, NAME_LABEL, NAME_VALUE } from '../../api/labels.ts';
import { RESOURCES, isAlreadyExists, isConflict, isNotFound, type KubeClient } from '../../kube/client.ts';
import { describe } from '../../kube/errors.ts';
import { Informer } from '../../kube/informer.ts';
import type { Secret } from '../../kube/objects.ts';
import * as certsInChild from '../../server/certs-process.ts';
import type { PemKeyPair } from '../../server/certs-process.ts';
import { Runner, whenSynced } from './runner.ts';

export const DEFAULT_WEBHOOK_TLS_SECRET = 'regcred-operator-webhook-tls';
export const WEBHOOK_TLS_COMPONENT = 'webhook-tls';
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';
/** On the TLS Secret: when its current CA was first published (RFC 3339); step 2 waits on it. */
export const CA_PUBLISHED_ANNOTATION = 'regcred.dev/ca-published-at';
export const TLS_CERT_KEY = 'tls.crt';
export const TLS_KEY_KEY = 'tls.key';
export const CA_CERT_KEY = 'ca.crt';
export const CA_KEY_KEY = 'ca.key';
export const CA_BUNDLE_KEY = 'ca-bundle.crt';

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;
const DEFAULT_CA_VALIDITY_MS = 365 * DAY_MS;
const DEFAULT_SERVING_VALIDITY_MS = 90 * DAY_MS;
const DEFAULT_CA_OVERLAP_MS = HOUR_MS;
const DEFAULT_SYNC_TIMEOUT_MS = 60_000;
/**
 * Certificates are backdated an hour (src/server/certs.ts) and renewed with a third of their life
 * left: a validity under this would be renewed as soon as it is issued.
 */
const MIN_VALIDITY_MS = HOUR_MS;
/** The state is checked at least this often, whatever the certificates say (a suspended clock, a missed event). */
const RECHECK_MS = HOUR_MS;
/** Nor more often than this, short of a watch event. */
const MIN_RECHECK_MS = 1000;
/** Previous CAs kept in the bundle beside the current one (normally one, during a rotation). */
const MAX_PREVIOUS_CAS = 2;
/** Conflicts (409) answered with an immediate re-read and retry; after these, the retry backs off. */
const MAX_IMMEDIATE_CONFLICTS = 3;

export interface WebhookCertificatesOptions {
  namespace: string;
  secretName?: string;
  dnsNames: string[];
  ipAddresses?: string[];
  /** Default 365 days. */
  caValidityMs?: number;
  /** Default 90 days (never past the CA's own expiry). */
  servingValidityMs?: number;
  /** How long the bundle holds the new CA before the served certificate is issued by it. Default 1 h. */
  caOverlapMs?: number;
  /** How long start() waits for the Secret's cache. Default 60 s. */
  syncTimeoutMs?: number;
  /**
   * The Secret is written by someone else (cert-manager: tls.crt, tls.key and ca.crt): only read,
   * never made, renewed or repaired; its ca.crt is the bundle when it has no ca-bundle.crt.
   */
  external?: boolean;
  now?: () => Date;
  /** What makes certificates: in a child process (certs-process.ts) unless given. */
  issuer?: CertificateIssuer;
}

export type CertificateIssuer = Pick<typeof certsInChild, 'generateCA' | 'generateServingCertificate' | 'generateCAAndServingCertificate'>;

export interface ServingPair {
  /** PEM: the serving certificate (and any chain). */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

export class WebhookCertificates {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly namespace: string;
  private readonly secretName: string;
  private readonly dnsNames: string[];
  private readonly ipAddresses: string[];
  private readonly caValidityMs: number;
  private readonly servingValidityMs: number;
  private readonly caOverlapMs: number;
  private readonly external: boolean;
  private readonly syncTimeoutMs: number;
  private readonly now: () => Date;
  private readonly issuer: CertificateIssuer;
  private readonly informer: Informer<Secret>;
  private readonly runner: Runner;
  private readonly listeners = new Set<() => void>();
  // Private fields: the key is not shown when this object is logged or inspected.
  #pair: ServingPair | undefined;
  #pairFingerprint = '';
  #bundle: string | undefined;
  /** The resourceVersion whose unusable content was last reported, so it is reported once. */
  private reportedBroken = '';
  private reportedType = '';
  private leading = false;
  private stopped = false;
  private conflicts = 0;

  constructor(client: KubeClient, log: Logger, options: WebhookCertificatesOptions) {
    this.client = client;
    this.log = log;
    this.namespace = options.namespace;
    this.secretName = options.secretName ?? DEFAULT_WEBHOOK_TLS_SECRET;
    this.dnsNames = [...options.dnsNames];
    this.ipAddresses = [...(options.ipAddresses ?? [])];
    this.caValidityMs = options.caValidityMs ?? DEFAULT_CA_VALIDITY_MS;
    this.servingValidityMs = options.servingValidityMs ?? DEFAULT_SERVING_VALIDITY_MS;
    this.caOverlapMs = options.caOverlapMs ?? DEFAULT_CA_OVERLAP_MS;
    this.syncTimeoutMs = options.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
    this.external = options.external ?? false;
    this.now = options.now ?? (() => new Date());
    this.issuer = options.issuer ?? certsInChild;
    if (this.dnsNames.length + this.ipAddresses.length === 0) throw new Error('the webhook serving certificate needs at least one DNS name or IP address');
    for (const [name, ms] of [['caValidityMs', this.caValidityMs], ['servingValidityMs', this.servingValidityMs]] as const) {
      if (!(ms >= MIN_VALIDITY_MS)) throw new Error(`${name} must be at least ${MIN_VALIDITY_MS} ms (1 h)`);
    }
    if (!(this.caOverlapMs >= 0)) throw new Error('caOverlapMs must not be negative');
    this.informer = new Informer<Secret>(client, RESOURCES.secrets, log, {
      namespace: this.namespace,
      fieldSelector: `metadata.name=${this.secretName}`,
    }).on((secret, _old, deleted) => {
      // A deleted Secret leaves the pair in use as it is: the server keeps serving until the leader
      // has made a new one.
      if (!deleted) this.absorb(secret);
      if (this.leading) this.runner.schedule(0);
    });
    this.runner = new Runner(
      () => this.reconcile(),
      (err, retryInMs) => this.log.warn({ secret: this.ref, error: describe(err), retryInMs }, 'webhook TLS: could not reconcile the Secret; retrying'),
    );
  }

  private get ref(): string {
    return `${this.namespace}/${this.secretName}`;
  }

  /**
   * Watches the Secret and waits (at most syncTimeoutMs) for its cache. On a timeout it rejects and
   * the watch goes on retrying: current() fills in when the Secret shows up.
   */
  async start(): Promise<void> {
    if (this.stopped) throw new Error('webhook TLS: stopped');
    this.informer.start();
    await this.informer.waitForSync(this.syncTimeoutMs);
  }

  /** The serving pair (the last valid one seen), or undefined before there is one. */
  current(): ServingPair | undefined {
    return this.#pair ? { ...this.#pair } : undefined;
  }

  /** PEM: the CAs a client must trust (the current one and, during a rotation, the previous one). */
  caBundle(): string | undefined {
    return this.#bundle;
  }

  /** Called whenever the pair or the bundle changes. Returns a remover. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  /** Leader only: keeps the Secret true from now on (until stop()). */
  lead(): void {
    if (this.stopped || this.leading || this.external) return;
    this.leading = true;
    this.informer.start();
    this.runner.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.leading = false;
    this.runner.stop();
    this.informer.stop();
  }

  // ---- every replica: the Secret's content as served ----

  private absorb(secret: Secret): void {
    const rv = secret.metadata.resourceVersion ?? '';
    const text = decode(secret.data);
    let changed = false;
    const cert = text[TLS_CERT_KEY];
    const key = text[TLS_KEY_KEY];
    let broken: string | undefined;
    if (cert && key) {
      const fingerprint = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
      if (fingerprint !== this.#pairFingerprint) {
        try {
          // Throws unless the certificate parses and the key is its own.
          createSecureContext({ cert, key });
          new X509Certificate(cert);
          this.#pair = { cert, key };
          this.#pairFingerprint = fingerprint;
          changed = true;
        } catch {
          broken = 'tls.crt and tls.key do not make a key pair';
        }
      }
    } else broken = 'tls.crt or tls.key is missing';
    const bundle = text[CA_BUNDLE_KEY] ?? (this.external ? text[CA_CERT_KEY] : undefined);
    if (bundle !== undefined && bundle !== this.#bundle) {
      if (parseCertificates(bundle).length > 0) {
        this.#bundle = bundle;
        changed = true;
      } else broken = 'ca-bundle.crt holds no certificate';
    } else if (bundle === undefined) broken = 'ca-bundle.crt is missing';
    if (broken && this.reportedBroken !== rv) {
      this.reportedBroken = rv;
      this.log.warn({ secret: this.ref, resourceVersion: rv, problem: broken }, 'webhook TLS: the Secret is not usable as it is; keeping what was served before');
    }
    if (changed) this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) {
      try {
        listener();
      } catch (err) {
        this.log.error({ secret: this.ref, error: describe(err) }, 'webhook TLS: a change listener failed');
      }
    }
  }

  // ---- the leader: keep the Secret true ----

  /** One pass; resolves to the delay until the next check. */
  private async reconcile(): Promise<number | undefined> {
    if (!this.leading) return undefined;
    if (!(await whenSynced([this.informer], () => this.leading))) return undefined;
    const existing = this.informer.get(this.namespace, this.secretName);
    if (existing && existing.type !== undefined && existing.type !== TLS_SECRET_TYPE) {
      // The type of a Secret cannot change; only deleting it lets the operator make a new one.
      const rv = existing.metadata.resourceVersion ?? '';
      if (this.reportedType !== rv) {
        this.reportedType = rv;
        this.log.error({ secret: this.ref, type: existing.type }, `webhook TLS: the Secret is not of type ${TLS_SECRET_TYPE}; delete it and the operator makes a new one`);
      }
      return undefined;
    }
    const now = this.now();
    const planned = await plan(existing, now, {
      dnsNames: this.dnsNames,
      ipAddresses: this.ipAddresses,
      caValidityMs: this.caValidityMs,
      servingValidityMs: this.servingValidityMs,
      caOverlapMs: this.caOverlapMs,
      issuer: this.issuer,
    });
    if (!this.leading) return undefined;
    if (planned.write) {
      const body = this.secretBody(existing, planned);
      try {
        const written = existing
          ? await this.client.replace<Secret>(RESOURCES.secrets, this.namespace, this.secretName, body)
          : await this.client.create<Secret>(RESOURCES.secrets, this.namespace, body);
        this.conflicts = 0;
        this.log.info({ secret: this.ref, created: !existing, changes: planned.reasons, ...planned.summary }, existing ? 'webhook TLS: Secret updated' : 'webhook TLS: Secret created');
        this.informer.observe(written);
        this.absorb(written);
      } catch (err) {
        if (isAlreadyExists(err) || isConflict(err) || (existing && isNotFound(err))) {
          // Another replica (or a person) got there first: take what is there now and decide again.
          if (++this.conflicts > MAX_IMMEDIATE_CONFLICTS) {
            this.conflicts = 0;
            throw err;
          }
          this.log.info({ secret: this.ref, status: describe(err).status }, 'webhook TLS: the Secret changed meanwhile; reading it again');
          await this.reread();
          return 0;
        }
        throw err;
      }
    } else this.conflicts = 0;
    return Math.max(MIN_RECHECK_MS, planned.nextCheckAt - this.now().getTime());
  }

  private async reread(): Promise<void> {
    try {
      const fresh = await this.client.get<Secret>(RESOURCES.secrets, this.namespace, this.secretName);
      this.informer.observe(fresh);
      this.absorb(fresh);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      this.informer.forget(this.namespace, this.secretName);
    }
  }

  private secretBody(existing: Secret | undefined, planned: Plan): Secret {
    const labels = { ...existing?.metadata.labels, [NAME_LABEL]: NAME_VALUE, [COMPONENT_LABEL]: WEBHOOK_TLS_COMPONENT };
    const annotations = { ...existing?.metadata.annotations, [CA_PUBLISHED_ANNOTATION]: planned.publishedAt };
    return {
      ...existing,
      metadata: {
        ...(existing ? { ...existing.metadata } : {}),
        name: this.secretName,
        namespace: this.namespace,
        labels,
        annotations,
      },
      type: TLS_SECRET_TYPE,
      data: encode(planned.data),
    };
  }
}

// ---- the decision ----

interface PlanOptions {
  dnsNames: string[];
  ipAddresses: string[];
  caValidityMs: number;
  servingValidityMs: number;
  caOverlapMs: number;
  issuer: CertificateIssuer;
}

interface Plan {
  /** Whether the Secret must be created or replaced. */
  write: boolean;
  /** The whole data, as text. */
  data: Record<string, string>;
  publishedAt: string;
  reasons: string[];
  /** Fingerprints and expiries, for the log (no key material). */
  summary: Record<string, string>;
  /** When (epoch ms) to look again. */
  nextCheckAt: number;
}

/** What the Secret must hold at `now`, given what it holds. New keys are made only when needed. */
async function plan(existing: Secret | undefined, now: Date, options: PlanOptions): Promise<Plan> {
  const t = now.getTime();
  const old = decode(existing?.data);
  const reasons: string[] = [];
  let publishedAt = parseTime(existing?.metadata.annotations?.[CA_PUBLISHED_ANNOTATION]);

  // The CA: kept while it is usable and has a third of its life left.
  let caPem = old[CA_CERT_KEY];
  let caKey = old[CA_KEY_KEY];
  const usable = usableCA(caPem, caKey, t);
  let ca = usable.ok ? usable.cert : undefined;
  const previous: X509Certificate[] = parseCertificates(old[CA_BUNDLE_KEY] ?? '');
  const servingOptions = (validForMs: number) => ({
    commonName: options.dnsNames[0] ?? options.ipAddresses[0] ?? 'regcred-operator-webhook',
    dnsNames: options.dnsNames,
    ipAddresses: options.ipAddresses,
    validForMs,
    now,
  });
  // Made along with a CA when there is no Secret yet (so no serving certificate either).
  let issuedWithCA: PemKeyPair | undefined;
  if (!ca || t >= renewAt(ca)) {
    reasons.push(!existing ? 'created' : ca ? 'CA rotated: a third of its life is left' : `new CA: ${usable.ok ? '' : usable.reason}`);
    const oldCA = parseCertificates(caPem ?? '')[0];
    if (oldCA) previous.unshift(oldCA);
    const caOptions = { commonName: `regcred-operator-webhook-ca@${Math.floor(t / 1000)}`, validForMs: options.caValidityMs, now };
    let fresh: PemKeyPair;
    if (existing) fresh = await options.issuer.generateCA(caOptions);
    else ({ ca: fresh, serving: issuedWithCA } = await options.issuer.generateCAAndServingCertificate(caOptions, servingOptions(Math.min(options.servingValidityMs, options.caValidityMs))));
    ca = new X509Certificate(fresh.cert);
    caPem = canonical(ca);
    caKey = fresh.key;
    publishedAt = t;
  } else if (caPem !== canonical(ca)) {
    caPem = canonical(ca);
  }
  if (publishedAt === undefined) {
    // Unknown: counted from now, which can only make step 2 wait longer.
    reasons.push('CA publication time recorded');
    publishedAt = t;
  }

  // The bundle: the current CA, and the previous CAs that have not expired (at most MAX_PREVIOUS_CAS).
  const seen = new Set([ca.fingerprint256]);
  const kept: X509Certificate[] = [];
  for (const c of previous.sort((a, b) => b.validToDate.getTime() - a.validToDate.getTime())) {
    if (seen.has(c.fingerprint256) || !c.ca || c.validToDate.getTime() <= t || kept.length >= MAX_PREVIOUS_CAS) continue;
    seen.add(c.fingerprint256);
    kept.push(c);
  }
  const trusted = [ca, ...kept];
  const bundle = trusted.map(canonical).join('');
  if (existing && old[CA_BUNDLE_KEY] !== bundle && !reasons.length) reasons.push('CA bundle repaired');

  // The serving certificate.
  let tlsCert = old[TLS_CERT_KEY];
  let tlsKey = old[TLS_KEY_KEY];
  const serving = usableServing(tlsCert, tlsKey, trusted, t, options);
  const overlapEnds = publishedAt + options.caOverlapMs;
  let servingCert = serving.ok ? serving.cert : undefined;
  let needsIssue = !serving.ok;
  if (serving.ok && !serving.cert.checkIssued(ca) && t >= overlapEnds) {
    reasons.push('serving certificate moved to the new CA');
    needsIssue = true;
  } else if (!serving.ok && existing) reasons.push(`serving certificate reissued: ${serving.reason}`);
  if (needsIssue) {
    const validForMs = Math.max(0, Math.min(options.servingValidityMs, ca.validToDate.getTime() - t));
    const issued = issuedWithCA ?? (await options.issuer.generateServingCertificate({ ...servingOptions(validForMs), issuer: { cert: caPem, key: caKey! } }));
    tlsCert = issued.cert;
    tlsKey = issued.key;
    servingCert = new X509Certificate(issued.cert);
  }

  const data: Record<string, string> = {
    [TLS_CERT_KEY]: tlsCert!,
    [TLS_KEY_KEY]: tlsKey!,
    [CA_CERT_KEY]: caPem,
    [CA_KEY_KEY]: caKey!,
    [CA_BUNDLE_KEY]: bundle,
  };
  const publishedText = new Date(publishedAt).toISOString();
  const labels = existing?.metadata.labels ?? {};
  const write =
    !existing ||
    Object.keys(data).some((k) => old[k] !== data[k]) ||
    Object.keys(old).some((k) => !(k in data)) ||
    existing.metadata.annotations?.[CA_PUBLISHED_ANNOTATION] !== publishedText ||
    labels[NAME_LABEL] !== NAME_VALUE ||
    labels[COMPONENT_LABEL] !== WEBHOOK_TLS_COMPONENT;
  if (write && !reasons.length) reasons.push('Secret repaired');

  // Next look: the earliest of the CA's and the serving certificate's renewal, the end of the
  // overlap, a previous CA's expiry, and the periodic recheck.
  const candidates = [t + RECHECK_MS, renewAt(ca), renewAt(servingCert!), ...kept.map((c) => c.validToDate.getTime() + 1000)];
  if (!servingCert!.checkIssued(ca)) candidates.push(overlapEnds);
  const nextCheckAt = Math.max(t, Math.min(...candidates));

  return {
    write,
    data,
    publishedAt: publishedText,
    reasons,
    summary: {
      ca: ca.fingerprint256,
      caNotAfter: ca.validToDate.toISOString(),
      servingNotAfter: servingCert!.validToDate.toISOString(),
      servingIssuer: servingCert!.checkIssued(ca) ? 'current CA' : 'previous CA',
      bundleSize: String(trusted.length),
    },
    nextCheckAt,
  };
}

type Checked = { ok: true; cert: X509Certificate } | { ok: false; reason: string };

function usableCA(pem: string | undefined, keyPem: string | undefined, t: number): Checked {
  if (!pem || !keyPem) return { ok: false, reason: 'ca.crt or ca.key is missing' };
  const cert = parseCertificates(pem)[0];
  if (!cert) return { ok: false, reason: 'ca.crt does not parse' };
  if (!cert.ca) return { ok: false, reason: 'ca.crt is not a CA' };
  if (!(cert.validFromDate.getTime() <= t && t < cert.validToDate.getTime())) return { ok: false, reason: 'the CA is not valid now' };
  try {
    const key = createPrivateKey(keyPem);
    // generateServingCertificate signs with ECDSA P-256 keys only.
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return { ok: false, reason: 'ca.key is not an ECDSA P-256 key' };
    if (!cert.checkPrivateKey(key)) return { ok: false, reason: 'ca.key is not the key of ca.crt' };
  } catch {
    return { ok: false, reason: 'ca.key does not parse' };
  }
  return { ok: true, cert };
}

function usableServing(pem: string | undefined, keyPem: string | undefined, trusted: X509Certificate[], t: number, options: PlanOptions): Checked {
  if (!pem || !keyPem) return { ok: false, reason: 'tls.crt or tls.key is missing' };
  const cert = parseCertificates(pem)[0];
  if (!cert) return { ok: false, reason: 'tls.crt does not parse' };
  try {
    if (!cert.checkPrivateKey(createPrivateKey(keyPem))) return { ok: false, reason: 'tls.key is not the key of tls.crt' };
  } catch {
    return { ok: false, reason: 'tls.key does not parse' };
  }
  for (const name of options.dnsNames) {
    if (cert.checkHost(name, { subject: 'never', wildcards: false }) === undefined) return { ok: false, reason: `not valid for ${name}` };
  }
  for (const ip of options.ipAddresses) {
    if (cert.checkIP(ip) === undefined) return { ok: false, reason: `not valid for ${ip}` };
  }
  if (!(cert.validFromDate.getTime() <= t && t < cert.validToDate.getTime())) return { ok: false, reason: 'not valid now' };
  if (t >= renewAt(cert)) return { ok: false, reason: 'a third of its life is left' };
  if (!trusted.some((ca) => cert.checkIssued(ca) && safeVerify(cert, ca))) return { ok: false, reason: 'not signed by a CA of the bundle' };
  return { ok: true, cert };
}

function safeVerify(cert: X509Certificate, ca: X509Certificate): boolean {
  try {
    return cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/** When a third of the certificate's life is left. */
function renewAt(cert: X509Certificate): number {
  const from = cert.validFromDate.getTime();
  const to = cert.validToDate.getTime();
  return from + Math.ceil(((to - from) * 2) / 3);
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM text that parses; the others are skipped. */
function parseCertificates(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const block of pem.match(PEM_CERTIFICATE) ?? []) {
    try {
      out.push(new X509Certificate(block));
    } catch {
      // not a certificate
    }
  }
  return out;
}

function canonical(cert: X509Certificate): string {
  return `${cert.toString().trimEnd()}\n`;
}

function parseTime(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function decode(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

function encode(data: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) out[k] = Buffer.from(v, 'utf8').toString('base64');
  return out;
}
