#!/usr/bin/env node
// kubectl_complete-regcred: kubectl (1.26+) runs it to complete "kubectl regcred ...", passing the
// words after the plugin name, the last being the word to complete.
import { loadClientNodeLean } from '../kube/lean-client-node.ts';

loadClientNodeLean();
const { main } = await import('./main.ts');
await main(['__complete', ...process.argv.slice(2)]);
