#!/usr/bin/env bash
# Builds Helm from the Go module proxy (the version pinned in test/tools/helm/go.mod) into a cache
# folder outside the checkout, keyed by version, so fresh clones on the same machine reuse it.
# Prints the path of the helm binary on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")/helm" && pwd)
cd "$here"

version=$(awk '$1 == "helm.sh/helm/v3" && $2 ~ /^v/ {print $2}' go.mod)
client_go=$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v/ {print $2}' go.mod)
[ -n "$version" ] && [ -n "$client_go" ] || { echo "cannot read the helm and client-go versions from go.mod" >&2; exit 1; }
cache_root=${REGCRED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
out="$cache_root/helm-$version"

if [ -x "$out/helm" ]; then echo "$out/helm"; exit 0; fi

command -v go >/dev/null || { echo "go is required to build helm" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# As helm's own Makefile does: the Kubernetes version that `helm template` and `helm lint` assume
# (.Capabilities.KubeVersion) follows the client-go it is built with (v0.N.x is Kubernetes 1.N).
k8s_minor=$(echo "$client_go" | cut -d. -f2)
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$version -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s_minor"
done

tmp="$out.partial.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building helm $version into $out" >&2
go build -trimpath -ldflags "$ldflags" -o "$tmp/helm" helm.sh/helm/v3/cmd/helm
rm -rf "$out"; mv "$tmp" "$out"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out/helm"
