// The parts of @kubernetes/client-node the operator uses, imported from their own modules rather
// than the package index, which loads every generated API class and model (about 16 MiB of heap and
// 40 MiB of resident memory that nothing here reads). See lean-client-node.ts for the one import of
// the index that remains.
export { KubeConfig, type DispatcherOptions } from '@kubernetes/client-node/dist/config.js';
export { Watch } from '@kubernetes/client-node/dist/watch.js';
export { HttpMethod, RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
