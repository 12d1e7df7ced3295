import { describe, expect, it } from 'vitest';
import { DurationError, parseGoDuration, parseGoDurationMs } from '../../src/duration.ts';

const ns = 1n;
const us = 1000n * ns;
const ms = 1000n * us;
const s = 1000n * ms;
const m = 60n * s;
const h = 60n * m;
const MAX = (1n << 63n) - 1n;

// Go's time.ParseDuration test table (time/time_test.go), with the results it gives.
describe('parseGoDuration', () => {
  it.each<[string, bigint]>([
    ['0', 0n],
    ['5s', 5n * s],
    ['30s', 30n * s],
    ['1478s', 1478n * s],
    ['-5s', -5n * s],
    ['+5s', 5n * s],
    ['-0', 0n],
    ['+0', 0n],
    ['5.0s', 5n * s],
    ['5.6s', 5n * s + 600n * ms],
    ['5.s', 5n * s],
    ['.5s', 500n * ms],
    ['1.0s', 1n * s],
    ['1.00s', 1n * s],
    ['1.004s', 1n * s + 4n * ms],
    ['1.0040s', 1n * s + 4n * ms],
    ['100.00100s', 100n * s + 1n * ms],
    ['10ns', 10n * ns],
    ['11us', 11n * us],
    ['12µs', 12n * us],
    ['12μs', 12n * us],
    ['13ms', 13n * ms],
    ['14s', 14n * s],
    ['15m', 15n * m],
    ['16h', 16n * h],
    ['3h30m', 3n * h + 30n * m],
    ['10.5s4m', 4n * m + 10n * s + 500n * ms],
    ['-2m3.4s', -(2n * m + 3n * s + 400n * ms)],
    ['1h2m3s4ms5us6ns', 1n * h + 2n * m + 3n * s + 4n * ms + 5n * us + 6n * ns],
    ['39h9m14.425s', 39n * h + 9n * m + 14n * s + 425n * ms],
    ['52763797000ns', 52763797000n * ns],
    ['0.3333333333333333333h', 20n * m],
    ['9007199254740993ns', (1n << 53n) + 1n],
    ['9223372036854775807ns', MAX],
    ['9223372036854775.807us', MAX],
    ['9223372036s854ms775us807ns', MAX],
    ['-9223372036854775808ns', -(1n << 63n)],
    ['-9223372036854775.808us', -(1n << 63n)],
    ['-9223372036s854ms775us808ns', -(1n << 63n)],
    ['-2562047h47m16.854775808s', -(1n << 63n)],
    ['0.100000000000000000000h', 6n * m],
    ['0.830103483285477580700h', 49n * m + 48n * s + 372539827n * ns],
    // The durations the operator's own flags use.
    ['1m30s', 90n * s],
    ['1.5h', 90n * m],
    ['300ms', 300n * ms],
    ['2h45m', 2n * h + 45n * m],
    ['90s', 90n * s],
  ])('reads %s', (text, value) => {
    expect(parseGoDuration(text)).toBe(value);
  });

  it.each<[string, string]>([
    ['', 'time: invalid duration ""'],
    ['3', 'time: missing unit in duration "3"'],
    ['-', 'time: invalid duration "-"'],
    ['s', 'time: invalid duration "s"'],
    ['.', 'time: invalid duration "."'],
    ['-.', 'time: invalid duration "-."'],
    ['.s', 'time: invalid duration ".s"'],
    ['+.s', 'time: invalid duration "+.s"'],
    ['1d', 'time: unknown unit "d" in duration "1d"'],
    ['1.5 h', 'time: unknown unit " h" in duration "1.5 h"'],
    ['2mm', 'time: unknown unit "mm" in duration "2mm"'],
    ['1µ', 'time: unknown unit "\\xc2\\xb5" in duration "1\\xc2\\xb5"'],
    ['1s"', 'time: unknown unit "s\\"" in duration "1s\\""'],
    ['15 ', 'time: unknown unit " " in duration "15 "'],
    [' 15s', 'time: invalid duration " 15s"'],
    ['1h-2m', 'time: unknown unit "h-" in duration "1h-2m"'],
    ['9223372036854775808ns', 'time: invalid duration "9223372036854775808ns"'],
    ['9223372036854775.808us', 'time: invalid duration "9223372036854775.808us"'],
    ['9223372036854ms775us808ns', 'time: invalid duration "9223372036854ms775us808ns"'],
    ['-9223372036854775809ns', 'time: invalid duration "-9223372036854775809ns"'],
    ['99999999999999999999s', 'time: invalid duration "99999999999999999999s"'],
    ['3000000h', 'time: invalid duration "3000000h"'],
  ])('rejects %j with Go’s error', (text, message) => {
    expect(() => parseGoDuration(text)).toThrow(new DurationError(message));
  });
});

describe('parseGoDurationMs', () => {
  it.each<[string, number]>([
    ['1m30s', 90_000],
    ['1.5h', 5_400_000],
    ['250us', 0.25],
    ['0', 0],
    ['-1s', -1000],
  ])('reads %s as %d ms', (text, value) => {
    expect(parseGoDurationMs(text)).toBe(value);
  });
});
