// The image runs node and the operator from its ENTRYPOINT: a Deployment's `args` replace an image's
// CMD, so with the operator in CMD the Deployment's flags would have been handed to node itself.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { shippedEnvironment, shippedNodeFlags } from '../../scripts/bench/operator-process.ts';

const dockerfile = readFileSync('Dockerfile', 'utf8');
const instructions = dockerfile.split('\n').filter((l) => /^[A-Z]+ /.test(l));
const runStage = instructions.slice(instructions.findLastIndex((l) => l.startsWith('FROM ')));

describe('Dockerfile', () => {
  it('starts dist/main.js from the exec-form ENTRYPOINT and sets no CMD, so Kubernetes args reach the operator', () => {
    const entrypoint = runStage.find((l) => l.startsWith('ENTRYPOINT '));
    expect(entrypoint).toBeDefined();
    const argv = JSON.parse(entrypoint!.slice('ENTRYPOINT '.length)) as string[];
    expect(argv[0]).toBe('/nodejs/bin/node');
    expect(argv.at(-1)).toBe('dist/main.js');
    expect(runStage.some((l) => l.startsWith('CMD '))).toBe(false);
  });

  it('is where the bench takes the node flags from', () => {
    expect(shippedNodeFlags(dockerfile)).toEqual(['--max-semi-space-size=2', '--heap-growing-percent=100', '--memory-saver-mode']);
    expect(() => shippedNodeFlags('FROM x\nCMD ["dist/main.js"]\n')).toThrow(/no ENTRYPOINT/);
  });

  it('is where the bench takes the environment from: the run stage only', () => {
    expect(shippedEnvironment(dockerfile)).toEqual({ NODE_ENV: 'production', MALLOC_ARENA_MAX: '1' });
    expect(shippedEnvironment('FROM a\nENV BUILD=1\nFROM b\nENV A=1 B=x=y\n')).toEqual({ A: '1', B: 'x=y' });
    expect(() => shippedEnvironment('FROM b\nENV A 1\n')).toThrow(/KEY=VALUE/);
  });
});
