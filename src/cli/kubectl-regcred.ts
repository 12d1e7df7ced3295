#!/usr/bin/env node
// kubectl-regcred: kubectl runs it for "kubectl regcred ...". Like the operator's entry point, it
// registers the hook that keeps client-node's generated API out of the process before importing
// anything that loads client-node, so that every command starts quickly.
import { loadClientNodeLean } from '../kube/lean-client-node.ts';

loadClientNodeLean();
const { main } = await import('./main.ts');
await main(process.argv.slice(2));
