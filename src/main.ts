#!/usr/bin/env node
// The entry point. Static imports are all resolved before any module runs, so the hook that keeps
// client-node's unused generated API out of memory is registered here, before the operator's
// modules (and client-node with them) are imported.
import { loadClientNodeLean } from './kube/lean-client-node.ts';

loadClientNodeLean();
await import('./start.ts');
