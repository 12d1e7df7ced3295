import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { envName, flagsSchema, HELP, parseFlags, parseGoBool, userAgent, versionText, type Flags } from '../../src/config.ts';

beforeEach(() => {
  vi.stubEnv('POD_NAMESPACE', 'operator-ns');
});

afterEach(() => {
  vi.unstubAllEnvs();
});

function flags(argv: string[], env: NodeJS.ProcessEnv = {}): Flags {
  const r = parseFlags(argv, { POD_NAMESPACE: 'operator-ns', ...env });
  if (!r.ok) throw new Error(r.help ? 'help' : r.version ? 'version' : r.message);
  return r.flags;
}

function failure(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = parseFlags(argv, { POD_NAMESPACE: 'operator-ns', ...env });
  if (r.ok || r.help || r.version) throw new Error(`expected ${argv.join(' ')} to fail`);
  return r.message;
}

/** The lines --help gives a flag: its own and those continuing it. */
function helpEntry(flag: string): string {
  const lines = HELP.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`  --${flag} `) || l === `  --${flag}`);
  if (start < 0) throw new Error(`--${flag} is not in --help`);
  const end = lines.findIndex((l, i) => i > start && !l.startsWith('    '));
  return lines.slice(start, end).join('\n');
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
      'watch-inactivity-timeout': 90_000,
      http2: false,
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
    expect(failure(['--metrics-secure=yes'])).toBe('--metrics-secure: must be true or false, not "yes"');
    expect(failure(['--metrics-cert-dir', '/certs'])).toBe('--metrics-cert-dir: needs --metrics-secure');
  });

  it('takes the credentials namespace from the flag over POD_NAMESPACE', () => {
    expect(flags(['--credentials-namespace', 'creds'])).toMatchObject({ 'credentials-namespace': 'creds', credentialsNamespace: 'creds' });
  });

  it.each<[string, number]>([
    ['500ms', 500],
    ['0ms', 0],
    ['0', 0],
    ['15s', 15_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['0.5m', 30_000],
    ['1m30s', 90_000],
    ['90s', 90_000],
    ['300ms', 300],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['1500us', 1.5],
    ['+1s', 1_000],
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
    ['a duration without unit', ['--lease-duration', '15'], '--lease-duration: time: missing unit in duration "15" (want a duration such as 300ms, 1m30s or 2h45m)'],
    ['a duration in days', ['--renew-deadline', '1d'], '--renew-deadline: time: unknown unit "d" in duration "1d" (want a duration such as 300ms, 1m30s or 2h45m)'],
    ['a negative duration', ['--retry-period=-1s'], '--retry-period: must not be negative'],
    ['an empty duration', ['--shutdown-timeout', ''], '--shutdown-timeout: time: invalid duration "" (want a duration such as 300ms, 1m30s or 2h45m)'],
    ['a duration with a space', ['--watch-stale-limit', '2 m'], '--watch-stale-limit: time: unknown unit " m" in duration "2 m" (want a duration such as 300ms, 1m30s or 2h45m)'],
    ['a resync period under 10s', ['--resync-period', '9.999s'], '--resync-period: must be at least 10s'],
    ['a value on a boolean flag that is no boolean', ['--leader-elect=yes'], '--leader-elect: must be true or false, not "yes"'],
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
    ['an unknown flag', ['--conncurrency', '4'], 'unknown flag --conncurrency\nunexpected argument "4"'],
    ['an unknown short flag', ['-c', '4'], 'unknown flag -c\nunexpected argument "4"'],
    ['a flag without its value', ['--concurrency'], '--concurrency: needs a value'],
    ['a flag whose value would be the next flag', ['--concurrency', '--leader-elect'], '--concurrency: needs a value'],
    ['a positional argument', ['run'], 'unexpected argument "run"'],
    ['a boolean given its value as the next argument, as pflag does', ['--leader-elect', 'false'], 'unexpected argument "false"'],
    ['anything after --', ['--', '--leader-elect'], 'unexpected argument "--leader-elect"'],
  ])('rejects %s', (_name, argv, message) => {
    expect(failure(argv)).toBe(message);
  });

  it('answers --help and -h with help', () => {
    expect(parseFlags(['--help'])).toEqual({ ok: false, help: true });
    expect(parseFlags(['-h'])).toEqual({ ok: false, help: true });
    expect(parseFlags(['--concurrency', '0', '--help'])).toEqual({ ok: false, help: true });
  });

  it('documents every flag in the help text with its variable', () => {
    const all = [...Object.keys(flagsSchema.shape), 'zap-devel'];
    expect(all).toEqual(expect.arrayContaining(Object.keys(flags([])).filter((k) => k !== 'credentialsNamespace')));
    for (const flag of all) {
      const entry = helpEntry(flag);
      expect(entry, flag).toContain(`[$${envName(flag)}]`);
    }
    for (const flag of ['--help', '--version', '--zap-log-level']) expect(HELP).toContain(flag);
  });

  it('shows in --help the default each flag has', () => {
    const defaults = flags([]);
    for (const [flag, value] of Object.entries(defaults)) {
      if (flag === 'credentialsNamespace' || typeof value === 'boolean') continue;
      const shown = /\(default ([^)]+)\)/.exec(helpEntry(flag).replace(/\s+/g, ' '))?.[1];
      expect(shown, flag).toBeDefined();
      // The text shown reads back as the default itself.
      expect(flags([`--${flag}=${shown!}`])[flag as keyof Flags], flag).toEqual(value);
    }
  });
});

describe('boolean flags, as pflag reads them', () => {
  it.each<[string[], boolean]>([
    [['--leader-elect'], true],
    [['--leader-elect=true'], true],
    [['--leader-elect=false'], false],
    [['--leader-elect=1'], true],
    [['--leader-elect=0'], false],
    [['--leader-elect=T'], true],
    [['--leader-elect=FALSE'], false],
    [['--leader-elect', '--leader-elect=false'], false],
    [['--leader-elect=false', '--leader-elect'], true],
    [[], false],
  ])('reads %j as %s', (argv, value) => {
    expect(flags(argv)['leader-elect']).toBe(value);
  });

  it('reads --remediate-pods=false as off and --metrics-secure=true as on', () => {
    expect(flags(['--remediate-pods=false'])['remediate-pods']).toBe(false);
    expect(flags(['--metrics-secure=true', '--metrics-cert-dir=/c'])).toMatchObject({ 'metrics-secure': true, 'metrics-cert-dir': '/c' });
  });

  it.each<[string, boolean | undefined]>([
    ['1', true], ['t', true], ['T', true], ['TRUE', true], ['true', true], ['True', true],
    ['0', false], ['f', false], ['F', false], ['FALSE', false], ['false', false], ['False', false],
    ['yes', undefined], ['tRUE', undefined], ['', undefined], ['on', undefined],
  ])('parseGoBool(%j) is %s, as strconv.ParseBool', (text, value) => {
    expect(parseGoBool(text)).toBe(value);
  });
});

describe('a flag given twice', () => {
  it('takes the last value, as pflag does', () => {
    expect(flags(['--concurrency', '2', '--concurrency=3']).concurrency).toBe(3);
  });
});

describe('REGCRED_* environment variables', () => {
  it('names the variable after the flag', () => {
    expect(envName('max-concurrent-writes')).toBe('REGCRED_MAX_CONCURRENT_WRITES');
  });

  it('sets a flag not given on the command line', () => {
    expect(
      flags([], {
        REGCRED_MAX_CONCURRENT_WRITES: '7',
        REGCRED_LEADER_ELECT: 'true',
        REGCRED_LEASE_DURATION: '1m',
        REGCRED_ALLOWED_SECRET_NAMES: 'a,b',
        REGCRED_CREDENTIALS_NAMESPACE: 'creds',
        REGCRED_LOG_LEVEL: 'warn',
      }),
    ).toMatchObject({
      'max-concurrent-writes': 7,
      'leader-elect': true,
      'lease-duration': 60_000,
      'allowed-secret-names': ['a', 'b'],
      credentialsNamespace: 'creds',
      'log-level': 'warn',
    });
  });

  it('loses to the flag, which wins whether it comes before or after', () => {
    const env = { REGCRED_CONCURRENCY: '9', REGCRED_LEADER_ELECT: 'true', REGCRED_SHUTDOWN_TIMEOUT: 'not a duration' };
    expect(flags(['--concurrency', '2', '--leader-elect=false', '--shutdown-timeout=5s'], env)).toMatchObject({ concurrency: 2, 'leader-elect': false, 'shutdown-timeout': 5_000 });
  });

  it('wins over the default, and an empty variable counts as unset', () => {
    expect(flags([], { REGCRED_CONCURRENCY: '9' }).concurrency).toBe(9);
    expect(flags([], { REGCRED_CONCURRENCY: '' }).concurrency).toBe(4);
  });

  it('names the flag and the variable when a value from the environment is bad', () => {
    expect(failure([], { REGCRED_LEADER_ELECT: 'yes' })).toBe('--leader-elect (from REGCRED_LEADER_ELECT): must be true or false, not "yes"');
    expect(failure([], { REGCRED_RETRY_PERIOD: '2' })).toBe('--retry-period (from REGCRED_RETRY_PERIOD): time: missing unit in duration "2" (want a duration such as 300ms, 1m30s or 2h45m)');
    expect(failure(['--renew-deadline=20s'], { REGCRED_LEASE_DURATION: '20s' })).toBe('--lease-duration (from REGCRED_LEASE_DURATION): must be longer than --renew-deadline');
    expect(failure([], { REGCRED_ZAP_DEVEL: 'maybe' })).toBe('--zap-devel (from REGCRED_ZAP_DEVEL): must be true or false, not "maybe"');
  });

  it('ignores other REGCRED_ variables, which other tools of the project use', () => {
    expect(flags([], { REGCRED_TOOLS_CACHE: '/tmp/x' }).concurrency).toBe(4);
  });
});

describe('kubebuilder aliases', () => {
  it.each<[string[], string]>([
    [['--zap-log-level=debug'], 'debug'],
    [['--zap-log-level', 'error'], 'error'],
    [['--zap-log-level=0'], 'info'],
    [['--zap-log-level=1'], 'debug'],
    [['--zap-log-level=5'], 'trace'],
    [['--log-level=2'], 'trace'],
    [['--log-level=warn', '--zap-log-level=error'], 'error'],
    [['--zap-log-level=error', '--log-level=warn'], 'warn'],
    [['--zap-devel'], 'debug'],
    [['--zap-devel=false'], 'info'],
    [['--zap-devel', '--zap-log-level=error'], 'error'],
  ])('reads %j as log level %s', (argv, level) => {
    expect(flags(argv)['log-level']).toBe(level);
  });

  it('gives --zap-devel no say over a level set through the environment', () => {
    expect(flags(['--zap-devel'], { REGCRED_LOG_LEVEL: 'warn' })['log-level']).toBe('warn');
  });

  it('names --zap-log-level when its value is bad', () => {
    expect(failure(['--zap-log-level=loud'])).toMatch(/^--log-level: must be trace\|debug\|info\|warn\|error\|fatal\|silent or a verbosity/);
    expect(failure(['--zap-log-level=-1'])).toMatch(/^--log-level: /);
  });
});

describe('--version', () => {
  it('asks for the version, which is the name and version of package.json', () => {
    expect(parseFlags(['--version'])).toEqual({ ok: false, help: false, version: true });
    expect(parseFlags(['--version=false']).ok).toBe(true);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    expect(versionText()).toBe(`regcred-operator ${pkg.version}\n`);
    expect(pkg.name).toBe('regcred-operator');
  });

  it('is not taken with a bad flag beside it', () => {
    expect(failure(['--version', '--bogus'])).toBe('unknown flag --bogus');
  });

  it('is in the User-Agent the operator sends, in client-go\'s form', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(userAgent()).toBe(`regcred-operator/${pkg.version} (${process.platform}/${process.arch}) node/${process.version}`);
  });
});
