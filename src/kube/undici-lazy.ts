// client-node's config and fetch modules import undici as they load, yet the operator has them use it
// only behind a kubeconfig proxy-url (and for API clients it never makes). The resolve hook in
// lean-client-node.ts hands those imports this module instead, which loads undici the first time
// one of them is used: about 6 MiB of RSS that a process talking to the API server directly never
// needs. Called with `new`, each function returns undici's own object.
import { createRequire } from 'node:module';

type Undici = typeof import('undici');

let loaded: Undici | undefined;
const undici = (): Undici => (loaded ??= createRequire(import.meta.url)('undici') as Undici);

export function Agent(...args: ConstructorParameters<Undici['Agent']>): InstanceType<Undici['Agent']> {
  return new (undici().Agent)(...args);
}

export function ProxyAgent(...args: ConstructorParameters<Undici['ProxyAgent']>): InstanceType<Undici['ProxyAgent']> {
  return new (undici().ProxyAgent)(...args);
}

export function fetch(...args: Parameters<Undici['fetch']>): ReturnType<Undici['fetch']> {
  return undici().fetch(...args);
}
