#!/usr/bin/env bash
# Builds this folder's tool (kstatus, Flux's CEL health checks and Argo CD's Lua health checks over
# objects read from the cluster) from the Go module proxy into a cache folder outside the checkout,
# keyed by its go.sum and source, so fresh clones on the same machine reuse it and an edit builds it
# again. Prints the path of the binary on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

cli_utils=$(awk '$1 == "sigs.k8s.io/cli-utils" && $2 ~ /^v/ {print $2}' go.mod)
[ -n "$cli_utils" ] || { echo "cannot read the sigs.k8s.io/cli-utils version from go.mod" >&2; exit 1; }
cache_root=${REGCRED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
source_hash=$(cat go.mod go.sum ./*.go | sha256sum | cut -c1-12)
out="$cache_root/kstatus-$cli_utils-$source_hash"

if [ -x "$out/kstatus" ]; then echo "$out/kstatus"; exit 0; fi

command -v go >/dev/null || { echo "go is required to build the kstatus tool" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly

tmp="$out.partial.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building the kstatus tool (cli-utils $cli_utils) into $out" >&2
go build -trimpath -ldflags "-s -w" -o "$tmp/kstatus" .
rm -rf "$out"; mv "$tmp" "$out"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out/kstatus"
