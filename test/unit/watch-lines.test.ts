import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WatchLines } from '../../src/kube/watch-lines.ts';

describe('WatchLines', () => {
  it('gives each complete line once, keeping a partial line for the next chunk', () => {
    const lines = new WatchLines();
    expect(lines.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(lines.push(':2}')).toEqual([]);
    expect(lines.push('\n\n{"c":3}\n')).toEqual(['{"b":2}', '{"c":3}']);
    expect(lines.push('')).toEqual([]);
  });

  it('yields the same lines however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', 'é', '{', '"', ' ') , minLength: 1 }), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (events, cuts) => {
        const text = events.map((e) => `${e}\n`).join('');
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const lines = new WatchLines();
        const seen: string[] = [];
        let from = 0;
        for (const p of [...points, text.length]) {
          seen.push(...lines.push(text.slice(from, p)));
          from = p;
        }
        expect(seen).toEqual(events);
      }),
    );
  });
});
