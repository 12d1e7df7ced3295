// How errors become log fields. Only the name, message and HTTP status are kept: an error's other
// properties (a request, a response body, an object) may carry Secret data.
import { KubeError } from './client.ts';

/** An error as a log field: name, message and HTTP status only. */
export function describe(err: unknown): { name?: string; message: string; status?: number } {
  if (err instanceof KubeError) return { name: err.name, message: err.message, status: err.status };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { message: String(err) };
}
