// SDK calls that take no AbortSignal still end for the caller when the fetch is cancelled (the
// operator stops, or the entry changed): the call may finish in the background, its answer unused.
import { TokenFetchError } from '../provider.ts';

export async function abortable<T>(signal: AbortSignal, work: () => Promise<T>): Promise<T> {
  if (signal.aborted) throw new TokenFetchError('Aborted', 'the token fetch was cancelled');
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new TokenFetchError('Aborted', 'the token fetch was cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work(), aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
