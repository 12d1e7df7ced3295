// The token providers this build has. A registry entry of a kind with no provider here is accepted
// by the schema and reported as ProviderUnavailable.
import type { TokenProvider, TokenProviderName } from '../provider.ts';
import { acrProvider } from './acr.ts';
import { artifactRegistryProvider } from './artifact-registry.ts';
import { ecrProvider } from './ecr.ts';

export const PROVIDERS: Partial<Record<TokenProviderName, TokenProvider<never>>> = {
  ecr: ecrProvider,
  artifactRegistry: artifactRegistryProvider,
  acr: acrProvider,
};

export type ProviderLookup = (name: TokenProviderName) => TokenProvider<unknown> | undefined;

export const builtInProviders: ProviderLookup = (name) => PROVIDERS[name] as TokenProvider<unknown> | undefined;
