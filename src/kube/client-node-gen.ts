// What client-node's config module takes from its generated index (for makeApiClient, which the
// operator never calls), without the generated APIs and models the index also loads.
export * from '@kubernetes/client-node/dist/gen/http/http.js';
export { createConfiguration } from '@kubernetes/client-node/dist/gen/configuration.js';
export * from '@kubernetes/client-node/dist/gen/servers.js';
