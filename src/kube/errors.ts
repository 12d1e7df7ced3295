// How errors become log fields. Only the name, message and HTTP status are kept: an error's other
// properties (a request, a response body, an object) may carry Secret data.
import { KubeError } from './client.ts';

/** An error as a log field: name, message and HTTP status only. */
export function describe(err: unknown): { name?: string; message: string; status?: number } {
  if (err instanceof KubeError) return { name: err.name, message: err.message, status: err.status };
  if (err instanceof Error) {
    // client-node's Watch reports a refused watch as a plain Error with a statusCode.
    const status = (err as { statusCode?: unknown }).statusCode;
    return typeof status === 'number' ? { name: err.name, message: err.message, status } : { name: err.name, message: err.message };
  }
  return { message: String(err) };
}
