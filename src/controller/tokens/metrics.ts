// Token metrics, registered on the operator's prom-client Registry. Labels name the provider and
// the token's key (region, auth references, endpoints), never a token or a key.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { TokenProviderName } from './provider.ts';

export interface TokenMetricsSink {
  fetched(provider: TokenProviderName, source: string, result: 'success' | 'failure', expiresAt?: Date): void;
  forget(provider: TokenProviderName, source: string): void;
}

export class TokenMetrics implements TokenMetricsSink {
  readonly refreshes: Counter<'provider' | 'result'>;
  readonly expiry: Gauge<'provider' | 'source'>;

  constructor(registry: Registry) {
    this.refreshes = new Counter({
      name: 'regcred_token_refresh_total',
      help: 'Cloud registry token fetches by provider (ecr, artifactRegistry, acr) and result (success, failure).',
      labelNames: ['provider', 'result'],
      registers: [registry],
    });
    this.expiry = new Gauge({
      name: 'regcred_token_expiry_timestamp_seconds',
      help: 'When the cloud registry token in use expires (Unix seconds), per provider and token source (one per distinct region, auth and endpoint).',
      labelNames: ['provider', 'source'],
      registers: [registry],
    });
  }

  fetched(provider: TokenProviderName, source: string, result: 'success' | 'failure', expiresAt?: Date): void {
    this.refreshes.inc({ provider, result });
    if (expiresAt) this.expiry.set({ provider, source }, expiresAt.getTime() / 1000);
  }

  forget(provider: TokenProviderName, source: string): void {
    this.expiry.remove({ provider, source });
  }
}
