import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createLogger, currentReconcileID, inReconcile, outsideReconcile } from '../../src/log.ts';

type Line = Record<string, unknown>;

function capture(level: Parameters<typeof createLogger>[0] = 'trace') {
  const lines: Line[] = [];
  let text = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Line);
      done();
    },
  });
  return { log: createLogger(level, sink), lines, text: () => text };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('createLogger', () => {
  it('writes the level as its name and the time as ISO 8601 under ts', () => {
    const { log, lines } = capture();
    const before = Date.now();
    log.info({ credential: 'c' }, 'hello');
    log.warn('careful');
    log.debug('detail');
    expect(lines.map((l) => l.level)).toEqual(['info', 'warn', 'debug']);
    const ts = lines[0]!.ts as string;
    expect(ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(ts)).toBeGreaterThanOrEqual(before - 1);
    expect(lines[0]).not.toHaveProperty('time');
    expect(lines[0]).toMatchObject({ msg: 'hello', credential: 'c', app: 'regcred-operator' });
  });

  it('still filters by level', () => {
    const { log, lines } = capture('warn');
    log.info('no');
    log.error('yes');
    expect(lines.map((l) => l.msg)).toEqual(['yes']);
  });

  it('redacts secret fields, inside a reconcile too', async () => {
    const { log, lines, text } = capture();
    const secret = 'hunter2-5d1f';
    const dockerconfig = Buffer.from(JSON.stringify({ auths: { r: { auth: secret } } })).toString('base64');
    log.info({ password: secret, token: secret, secret: { data: { '.dockerconfigjson': dockerconfig } }, auths: { r: secret } }, 'outside');
    await inReconcile(async () => {
      log.info({ obj: { stringData: { password: secret } }, config: { '.dockerconfigjson': dockerconfig } }, 'inside');
    });
    expect(lines).toHaveLength(2);
    expect(text()).not.toContain(secret);
    expect(text()).not.toContain(dockerconfig);
    expect(lines[0]).toMatchObject({ password: '[redacted]', token: '[redacted]', secret: { data: '[redacted]' }, auths: '[redacted]' });
    expect(lines[1]).toMatchObject({ obj: { stringData: '[redacted]' }, config: { '.dockerconfigjson': '[redacted]' } });
  });
});

describe('reconcileID', () => {
  it('is on every line logged within a reconcile, across awaits and timers, and on none outside', async () => {
    const { log, lines } = capture();
    log.info('before');
    await inReconcile(async () => {
      log.info('start');
      await sleep(1);
      await new Promise<void>((resolve) => setTimeout(() => {
        log.debug('in a timer');
        resolve();
      }, 1));
      await Promise.all([1, 2].map(async (n) => {
        await sleep(n);
        log.info({ n }, 'in parallel');
      }));
    });
    log.info('after');
    const id = lines[1]!.reconcileID;
    expect(id).toMatch(UUID);
    expect(lines.map((l) => [l.msg, l.reconcileID])).toEqual([
      ['before', undefined],
      ['start', id],
      ['in a timer', id],
      ['in parallel', id],
      ['in parallel', id],
      ['after', undefined],
    ]);
  });

  it('is new for every reconcile, and concurrent reconciles keep theirs apart', async () => {
    const { log, lines } = capture();
    const run = (name: string, delays: number[]) =>
      inReconcile(async () => {
        for (const d of delays) {
          await sleep(d);
          log.info({ credential: name }, 'step');
        }
      });
    await Promise.all([run('a', [3, 1, 4]), run('b', [1, 5, 1]), run('c', [2, 2, 2])]);
    await run('a', [0]);
    const ids = new Map<string, Set<unknown>>();
    for (const l of lines) {
      const set = ids.get(l.credential as string) ?? new Set();
      set.add(l.reconcileID);
      ids.set(l.credential as string, set);
    }
    expect([...ids.get('b')!]).toHaveLength(1);
    expect([...ids.get('c')!]).toHaveLength(1);
    expect([...ids.get('a')!]).toHaveLength(2);
    const all = [...ids.values()].flatMap((s) => [...s]);
    expect(new Set(all).size).toBe(all.length);
    for (const id of all) expect(id).toMatch(UUID);
  });

  it('is not on lines of work that a reconcile started and that outlives it', async () => {
    const { log, lines } = capture();
    let later!: Promise<void>;
    await inReconcile(async () => {
      later = (async () => {
        log.info('background, during');
        await sleep(20);
        log.info('background, after');
      })();
      await sleep(1);
      log.info('reconcile ends');
    });
    await later;
    const [during, end, after] = lines;
    expect(during!.reconcileID).toMatch(UUID);
    expect(end!.reconcileID).toBe(during!.reconcileID);
    expect(after).toMatchObject({ msg: 'background, after' });
    expect(after).not.toHaveProperty('reconcileID');
  });

  it('is not on lines of a failed reconcile once it has failed', async () => {
    const { log, lines } = capture();
    let later!: Promise<void>;
    await expect(inReconcile(async () => {
      later = sleep(5).then(() => log.info('after the failure'));
      log.error('failing');
      throw new Error('boom');
    })).rejects.toThrow('boom');
    await later;
    expect(lines[0]!.reconcileID).toMatch(UUID);
    expect(lines[1]).not.toHaveProperty('reconcileID');
  });

  it('is left off within outsideReconcile, and the reconcile keeps it after', async () => {
    const { log, lines } = capture();
    await inReconcile(async () => {
      outsideReconcile(() => log.info('not part of it'));
      expect(outsideReconcile(() => currentReconcileID())).toBeUndefined();
      log.info('part of it');
    });
    expect(lines[0]).not.toHaveProperty('reconcileID');
    expect(lines[1]!.reconcileID).toMatch(UUID);
  });

  it('gives way to a reconcileID the call itself logs, and is readable by the code that runs', async () => {
    const { log, lines } = capture();
    let seen: string | undefined;
    await inReconcile(async () => {
      seen = currentReconcileID();
      log.info({ reconcileID: 'explicit' }, 'given');
    });
    expect(seen).toMatch(UUID);
    expect(currentReconcileID()).toBeUndefined();
    expect(lines[0]!.reconcileID).toBe('explicit');
  });

  it('returns what the reconcile returns', async () => {
    await expect(inReconcile(async () => 42)).resolves.toBe(42);
  });
});
