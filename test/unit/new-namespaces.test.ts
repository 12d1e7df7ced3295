// New namespaces wait for the sign that the API server takes writes in them, never longer than the
// API server itself would hold a write. On an injected clock: every wait is asserted exactly.
import { describe, expect, it } from 'vitest';
import { ADMISSION_WAIT_MS, NewNamespaces } from '../../src/controller/new-namespaces.ts';

function clocked(waitMs = ADMISSION_WAIT_MS) {
  let now = 1_000;
  const nn = new NewNamespaces(waitMs, () => now);
  return { nn, advance: (ms: number) => (now += ms) };
}

const admittedIn = (...names: string[]) => (ns: string) => names.includes(ns);

describe('NewNamespaces', () => {
  it('holds a namespace that has just appeared and shows no sign, and says when to look again', () => {
    const { nn, advance } = clocked();
    nn.appeared('team-a');
    advance(10);
    expect(nn.hold(['team-a'], admittedIn())).toEqual({ held: ['team-a'], readyInMs: 40 });
  });

  it('lets a namespace through as soon as it shows the sign, and forgets it', () => {
    const { nn, advance } = clocked();
    nn.appeared('team-a');
    advance(3);
    expect(nn.hold(['team-a'], admittedIn('team-a'))).toEqual({ held: [], readyInMs: Infinity });
    expect(nn.size).toBe(0);
    // Gone from the book: a later look holds nothing even without the sign.
    expect(nn.hold(['team-a'], admittedIn()).held).toEqual([]);
  });

  it('lets a namespace through once the wait is over, sign or not', () => {
    const { nn, advance } = clocked();
    nn.appeared('team-a');
    advance(ADMISSION_WAIT_MS);
    expect(nn.hold(['team-a'], admittedIn())).toEqual({ held: [], readyInMs: Infinity });
    expect(nn.size).toBe(0);
  });

  it('never holds a namespace it did not see appear (the first list, or long ago)', () => {
    const { nn } = clocked();
    expect(nn.hold(['listed-at-start'], admittedIn())).toEqual({ held: [], readyInMs: Infinity });
  });

  it('splits a batch and looks again when the first held namespace is ready', () => {
    const { nn, advance } = clocked();
    nn.appeared('old');
    advance(20);
    nn.appeared('signed');
    nn.appeared('young');
    advance(5);
    const { held, readyInMs } = nn.hold(['old', 'signed', 'young', 'listed'], admittedIn('signed'));
    expect(held).toEqual(['old', 'young']);
    expect(readyInMs).toBe(25);
  });

  it('starts the wait again when a namespace of the same name appears again', () => {
    const { nn, advance } = clocked();
    nn.appeared('team-a');
    advance(40);
    nn.appeared('team-a');
    advance(20);
    expect(nn.hold(['team-a'], admittedIn())).toEqual({ held: ['team-a'], readyInMs: 30 });
  });

  it('forgets namespaces whose wait is over, so it holds only the last few', () => {
    const { nn, advance } = clocked();
    for (let i = 0; i < 1_000; i++) {
      nn.appeared(`ns-${i}`);
      advance(1);
    }
    expect(nn.size).toBe(ADMISSION_WAIT_MS);
  });
});
