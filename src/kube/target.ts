// Where a request goes: the parts of a URL the transports read. A URL is one; the API client makes a
// plain object per request from parts it worked out once, since parsing a URL per request was a few
// per cent of a fan-out's CPU.

export interface Target {
  readonly protocol: string;
  /** As in a URL: an IPv6 address in brackets. */
  readonly hostname: string;
  readonly port: string;
  readonly host: string;
  readonly origin: string;
  readonly pathname: string;
  /** '' or '?…', as in a URL. */
  readonly search: string;
  readonly href: string;
}

/** The host to connect to: the hostname without an IPv6 address's brackets. */
export function connectHost(target: Target): string {
  return target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
}
