#!/usr/bin/env bash
# Builds test/controlplane/keyring (kubelet's pull-secret credential lookup, from the same
# k8s.io/kubernetes module and replaces as the test control plane) into a cache folder outside the
# checkout, keyed by the Kubernetes version and the helper's source, so fresh clones on the same
# machine reuse it and an edit of the helper builds it again.
# Prints the path of the keyring binary on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/../controlplane" && pwd)
cd "$here"

k8s_version=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' go.mod)
[ -n "$k8s_version" ] || { echo "cannot read the k8s.io/kubernetes version from go.mod" >&2; exit 1; }
cache_root=${REGCRED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
source_hash=$(cat keyring/*.go | sha256sum | cut -c1-12)
out="$cache_root/keyring-$k8s_version-$source_hash"

if [ -x "$out/keyring" ]; then echo "$out/keyring"; exit 0; fi

command -v go >/dev/null || { echo "go is required to build the keyring helper" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod

tmp="$out.partial.$$"
rm -rf "$tmp"; mkdir -p "$tmp/mod"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building the keyring helper (Kubernetes $k8s_version) into $out" >&2
# Built against a scratch copy of go.mod and go.sum: importing k8s.io/kubernetes directly makes
# -mod=mod rewrite its "// indirect" markers, and the checked-in files stay the control plane's.
cp go.mod go.sum "$tmp/mod/"
go build -modfile="$tmp/mod/go.mod" -trimpath -ldflags "-s -w" -o "$tmp/keyring" ./keyring
used=$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$tmp/mod/go.mod")
[ "$used" = "$k8s_version" ] || { echo "the build moved k8s.io/kubernetes from $k8s_version to $used" >&2; exit 1; }
rm -rf "$tmp/mod"; rm -rf "$out"; mv "$tmp" "$out"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out/keyring"
