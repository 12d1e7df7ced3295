import { describe, expect, it } from 'vitest';
import { kubeTime, microTime } from '../../src/kube/time.ts';

const T = new Date('2024-05-01T10:00:00.123Z');

describe('Kubernetes timestamps', () => {
  it('metav1.Time drops the milliseconds', () => {
    expect(kubeTime(T)).toBe('2024-05-01T10:00:00Z');
  });

  it('metav1.MicroTime keeps them as microseconds', () => {
    expect(microTime(T)).toBe('2024-05-01T10:00:00.123000Z');
  });
});
