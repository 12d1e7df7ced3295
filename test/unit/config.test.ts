import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HELP, parseFlags, type Flags } from '../../src/config.ts';

beforeEach(() => {
  vi.stubEnv('POD_NAMESPACE', 'operator-ns');
});

afterEach(() => {
  vi.unstubAllEnvs();
});

function flags(argv: string[]): Flags {
  const r = parseFlags(argv);
  if (!r.ok) throw new Error(r.help ? 'help' : r.message);
  return r.flags;
}

function failure(argv: string[]): string {
  const r = parseFlags(argv);
  if (r.ok || r.help) throw new Error(`expected ${argv.join(' ')} to fail`);
  return r.message;
}

describe('parseFlags', () => {
  it('gives every default with no flags', () => {
    expect(flags([])).toEqual({
      concurrency: 4,
      'max-concurrent-writes': 50,
      'log-level': 'info',
      'metrics-bind-address': ':8080',
      'health-probe-bind-address': ':8081',
      'leader-elect': false,
      'leader-election-id': 'regcred-operator-leader',
      'lease-duration': 15_000,
      'renew-deadline': 10_000,
      'retry-period': 2_000,
      'watch-inactivity-timeout': 30_000,
      'watch-stale-limit': 120_000,
      'queue-stall-limit': 300_000,
      'shutdown-timeout': 20_000,
      'kube-api-qps': 5000,
      'kube-api-burst': 10000,
      'resync-period': 600_000,
      'cache-sync-timeout': 120_000,
      'reconcile-stuck-limit': 300_000,
      'status-interval': 1000,
      'digest-key-secret': 'regcred-operator-digest-key',
      'allowed-secret-names': ['regcred'],
      'metrics-secure': false,
      'pod-injection': 'webhook',
      'webhook-bind-address': ':9443',
      'webhook-service-name': 'regcred-operator-webhook',
      'webhook-configuration-name': 'regcred-operator',
      'webhook-secret-name': 'regcred-operator-webhook-tls',
      'webhook-certificates': 'operator',
      credentialsNamespace: 'operator-ns',
    });
  });

  it('takes --metrics-secure as a boolean, and --metrics-cert-dir only with it', () => {
    expect(flags(['--metrics-secure', '--metrics-cert-dir', '/certs'])).toMatchObject({ 'metrics-secure': true, 'metrics-cert-dir': '/certs' });
    expect(failure(['--metrics-secure=yes'])).toContain("Option '--metrics-secure' does not take an argument");
    expect(failure(['--metrics-cert-dir', '/certs'])).toBe('--metrics-cert-dir: needs --metrics-secure');
  });

  it('takes the credentials namespace from the flag over POD_NAMESPACE', () => {
    expect(flags(['--credentials-namespace', 'creds'])).toMatchObject({ 'credentials-namespace': 'creds', credentialsNamespace: 'creds' });
  });

  it.each<[string, number]>([
    ['500ms', 500],
    ['0ms', 0],
    ['15s', 15_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['0.5m', 30_000],
  ])('reads the duration %s as %d ms', (value, ms) => {
    expect(flags(['--watch-stale-limit', value])['watch-stale-limit']).toBe(ms);
    expect(flags([`--shutdown-timeout=${value}`])['shutdown-timeout']).toBe(ms);
  });

  it('reads every kind of flag', () => {
    expect(
      flags([
        '--kubeconfig', '/tmp/kc',
        '--concurrency', '8',
        '--max-concurrent-writes=3',
        '--log-level', 'debug',
        '--metrics-bind-address', '127.0.0.1:9090',
        '--health-probe-bind-address', '[::1]:9091',
        '--leader-elect',
        '--leader-election-namespace', 'kube-system',
        '--leader-election-id', 'lease',
        '--watch-stale-limit', '3m',
        '--queue-stall-limit', '90s',
        '--digest-key-secret', 'my.digest-key',
        '--allowed-secret-names', 'regcred, pull.secret,regcred',
      ]),
    ).toMatchObject({
      kubeconfig: '/tmp/kc',
      concurrency: 8,
      'max-concurrent-writes': 3,
      'log-level': 'debug',
      'metrics-bind-address': '127.0.0.1:9090',
      'health-probe-bind-address': '[::1]:9091',
      'leader-elect': true,
      'leader-election-namespace': 'kube-system',
      'leader-election-id': 'lease',
      'watch-stale-limit': 180_000,
      'queue-stall-limit': 90_000,
      'digest-key-secret': 'my.digest-key',
      'allowed-secret-names': ['regcred', 'pull.secret'],
    });
  });

  it.each<[string]>([['0'], [':8080'], ['0.0.0.0:80'], ['localhost:65535'], ['[::]:8080'], [':0']])('accepts the address %s', (address) => {
    expect(flags(['--metrics-bind-address', address])['metrics-bind-address']).toBe(address);
  });

  it.each<[string, string[], string]>([
    ['a duration without unit', ['--lease-duration', '15'], '--lease-duration: must be a duration such as 500ms, 15s or 2m'],
    ['a duration in hours', ['--renew-deadline', '1h'], '--renew-deadline: must be a duration such as 500ms, 15s or 2m'],
    ['a negative duration', ['--retry-period=-1s'], '--retry-period: must be a duration such as 500ms, 15s or 2m'],
    ['an empty duration', ['--shutdown-timeout', ''], '--shutdown-timeout: must be a duration such as 500ms, 15s or 2m'],
    ['a duration with a space', ['--watch-stale-limit', '2 m'], '--watch-stale-limit: must be a duration such as 500ms, 15s or 2m'],
    ['an address without a port', ['--metrics-bind-address', 'localhost'], '--metrics-bind-address: must be [host]:port, or 0 to disable'],
    ['an address with a bare IPv6 host', ['--health-probe-bind-address', '::1:8081'], '--health-probe-bind-address: must be [host]:port, or 0 to disable'],
    ['a bad namespace', ['--credentials-namespace', 'Bad_NS'], '--credentials-namespace: must be a namespace name'],
    ['a bad Secret name', ['--digest-key-secret', 'Key/1'], '--digest-key-secret: must be a Secret name'],
    ['a bad allowed Secret name', ['--allowed-secret-names', 'regcred,Bad_Name'], '--allowed-secret-names: each must be a Secret name'],
    ['no allowed Secret name', ['--allowed-secret-names', ' , '], '--allowed-secret-names: must name at least one Secret'],
  ])('rejects %s with a message naming the flag', (_name, argv, message) => {
    expect(failure(argv)).toBe(message);
  });

  it.each<[string, string[], string]>([
    ['a non-numeric concurrency', ['--concurrency', 'many'], '--concurrency'],
    ['a zero concurrency', ['--concurrency', '0'], '--concurrency'],
    ['a fractional concurrency', ['--concurrency', '1.5'], '--concurrency'],
    ['a too large concurrency', ['--concurrency', '65'], '--concurrency'],
    ['too many concurrent writes', ['--max-concurrent-writes', '257'], '--max-concurrent-writes'],
    ['an unknown log level', ['--log-level', 'loud'], '--log-level'],
    ['a port above 65535', ['--metrics-bind-address', ':99999'], '--metrics-bind-address'],
    ['a port above 65535 with a host', ['--health-probe-bind-address', '127.0.0.1:65536'], '--health-probe-bind-address'],
  ])('rejects %s with a message naming the flag', (_name, argv, flag) => {
    const message = failure(argv);
    expect(message.startsWith(`${flag}: `)).toBe(true);
  });

  it.each<[string, string[], string]>([
    ['a lease no longer than the renew deadline', ['--lease-duration', '10s'], '--lease-duration: must be longer than --renew-deadline'],
    ['a renew deadline within 1.2 retry periods', ['--renew-deadline', '2s', '--lease-duration', '5s'], '--renew-deadline: must be longer than 1.2 × --retry-period'],
  ])('rejects leader-election timings that would let two leaders write: %s', (_name, argv, message) => {
    expect(failure(argv)).toBe(message);
  });

  it('names every bad flag, one per line', () => {
    expect(failure(['--concurrency', '0', '--lease-duration', 'soon']).split('\n').map((l) => l.split(':')[0])).toEqual([
      '--concurrency',
      '--lease-duration',
    ]);
  });

  it.each<[string, string[], string]>([
    ['an unknown flag', ['--conncurrency', '4'], "Unknown option '--conncurrency'"],
    ['a flag without its value', ['--concurrency'], "Option '--concurrency <value>' argument missing"],
    ['a value on a boolean flag', ['--leader-elect=yes'], "Option '--leader-elect' does not take an argument"],
    ['a positional argument', ['run'], "Unexpected argument 'run'"],
  ])('rejects %s', (_name, argv, fragment) => {
    expect(failure(argv)).toContain(fragment);
  });

  it('answers --help with help', () => {
    expect(parseFlags(['--help'])).toEqual({ ok: false, help: true });
    expect(parseFlags(['--concurrency', '0', '--help'])).toEqual({ ok: false, help: true });
  });

  it('documents every flag in the help text', () => {
    for (const flag of Object.keys(flags([])).filter((k) => k !== 'credentialsNamespace')) expect(HELP).toContain(`--${flag} `);
    for (const flag of ['kubeconfig', 'credentials-namespace', 'leader-election-namespace', 'help']) expect(HELP).toContain(`--${flag}`);
  });
});
