// Kubernetes timestamps: metav1.Time has whole seconds, metav1.MicroTime has microseconds.
// JavaScript dates carry milliseconds, so both are cut from one ISO string.

function iso(d: Date, fraction: (ms: string) => string): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, (_m, ms: string) => `${fraction(ms)}Z`);
}

/** metav1.Time: RFC 3339 with whole seconds. */
export function kubeTime(d: Date): string {
  return iso(d, () => '');
}

/** metav1.MicroTime: RFC 3339 with microseconds, as the events and leases APIs require. */
export function microTime(d: Date): string {
  return iso(d, (ms) => `.${ms}000`);
}
