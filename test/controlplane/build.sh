#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kubectl) from the
# Go module proxy into a cache folder outside the checkout, keyed by version, so fresh clones on the
# same machine reuse it. Prints the folder holding the binaries on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

k8s_version=$(awk '$1 == "k8s.io/kubernetes" {print $2}' go.mod)
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" && $2 ~ /^v/ {print $2}' go.mod)
[ -n "$k8s_version" ] && [ -n "$etcd_version" ] || { echo "cannot read versions from go.mod" >&2; exit 1; }
cache_root=${REGCRED_CONTROLPLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator/controlplane}
out="$cache_root/kubernetes-$k8s_version-etcd-$etcd_version"
bins=(etcd kube-apiserver kube-controller-manager kubectl)

complete() { for b in "${bins[@]}"; do [ -x "$out/$b" ] || return 1; done; }
if complete; then echo "$out"; exit 0; fi

command -v go >/dev/null || { echo "go is required to build the test control plane" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
minor=${k8s_version#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
flags=(-trimpath -tags selinux,notest)

tmp="$out.partial.$$"
rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building Kubernetes $k8s_version and etcd $etcd_version into $out (first build takes many minutes)" >&2
echo "  downloading modules" >&2
go mod download
for b in kube-apiserver kube-controller-manager kubectl; do
  echo "  building $b ($(( $(date +%s) - start ))s elapsed)" >&2
  go build "${flags[@]}" -ldflags "$ldflags" -o "$tmp/$b" "k8s.io/kubernetes/cmd/$b"
done
echo "  building etcd ($(( $(date +%s) - start ))s elapsed)" >&2
go build "${flags[@]}" -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3
rm -rf "$out"; mv "$tmp" "$out"
trap - EXIT
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$out"
