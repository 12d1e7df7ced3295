#!/usr/bin/env bash
# Tools for the real-registry tests (test/support/registry.ts, test/integration/registry-client.test.ts):
#  - Debian's docker-registry (distribution 2.8) and skopeo, installed with apt-get when missing;
#  - distribution's own token server (contrib/token-server of github.com/docker/distribution, the
#    same release as the registry), built from the Go module proxy into a cache folder outside the
#    checkout, keyed by version, as build-helm.sh does for helm. cesanta/docker_auth was the first
#    choice, but the module proxy reachable here refuses it (403), so this is the real token server
#    that can be built here.
# Idempotent and quiet when everything is present. Prints the token server's path on its last line.
#   install-registry-tools.sh                 both of the above
#   install-registry-tools.sh --token-server  only the token server (what the tests call; no apt-get)
set -euo pipefail

mode=${1:-all}
case "$mode" in all|--token-server) ;; *) echo "usage: $0 [--token-server]" >&2; exit 2;; esac

install_debian_packages() {
  if command -v docker-registry >/dev/null && command -v skopeo >/dev/null; then return 0; fi
  [ "$(id -u)" = 0 ] || { echo "docker-registry and skopeo are missing; installing them needs root (apt-get)" >&2; exit 1; }
  echo "installing docker-registry and skopeo with apt-get" >&2
  # The package's maintainer scripts would start a registry daemon on :5000 through invoke-rc.d;
  # a policy-rc.d answering 101 ("action forbidden") stops that. Ours only if there is none already.
  local policy=/usr/sbin/policy-rc.d own_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
  fi
  local status=0 log
  log=$(mktemp)
  {
    DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends docker-registry skopeo
  } >"$log" 2>&1 || status=$?
  [ -z "$own_policy" ] || rm -f "$policy"
  if [ "$status" != 0 ]; then tail -n 40 "$log" >&2; rm -f "$log"; echo "apt-get failed ($status)" >&2; exit "$status"; fi
  rm -f "$log"
  # Belt and braces: a daemon the package started anyway is stopped through its own init script
  # (which ends exactly the pid in its pid file), so nothing is left serving on :5000.
  if [ -x /etc/init.d/docker-registry ] && [ -e /run/docker-registry.pid ]; then
    /etc/init.d/docker-registry stop >&2 || true
  fi
  command -v docker-registry >/dev/null && command -v skopeo >/dev/null || { echo "docker-registry or skopeo still missing after apt-get" >&2; exit 1; }
}

# The token server: distribution v2.8.2 (Debian bookworm's docker-registry is 2.8.2+ds1).
TOKEN_SERVER_VERSION=v2.8.2
build_token_server() {
  local cache_root out
  cache_root=${REGCRED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
  out="$cache_root/token-server-$TOKEN_SERVER_VERSION"
  if [ -x "$out/token-server" ]; then echo "$out/token-server"; return 0; fi
  command -v go >/dev/null || { echo "go is required to build distribution's token server" >&2; exit 1; }
  local tmp="$out.partial.$$"
  rm -rf "$tmp"; mkdir -p "$tmp/src"
  trap 'rm -rf "$tmp"' EXIT
  # The module the token server is built in, with its dependencies pinned (and checked by go.sum).
  cat >"$tmp/src/go.mod" <<EOF
module regcred.dev/tools/token-server

go 1.26.0

require (
	github.com/docker/distribution $TOKEN_SERVER_VERSION+incompatible
	github.com/docker/libtrust v0.0.0-20160708172513-aabc10ec26b7
	github.com/gorilla/mux v1.8.1
	github.com/sirupsen/logrus v1.10.2
	golang.org/x/crypto v0.59.0
	golang.org/x/sys v0.50.0
)
EOF
  cat >"$tmp/src/go.sum" <<'EOF'
github.com/docker/distribution v2.8.2+incompatible h1:T3de5rq0dB1j30rp0sA2rER+m322EBzniBPB6ZIzuh8=
github.com/docker/distribution v2.8.2+incompatible/go.mod h1:J2gT2udsDAN96Uj4KfcMRqY0/ypR+oyYUYmja8H+y+w=
github.com/docker/libtrust v0.0.0-20160708172513-aabc10ec26b7 h1:UhxFibDNY/bfvqU5CAUmr9zpesgbU6SWc8/B4mflAE4=
github.com/docker/libtrust v0.0.0-20160708172513-aabc10ec26b7/go.mod h1:cyGadeNEkKy96OOhEzfZl+yxihPEzKnqJwvfuSUqbZE=
github.com/gorilla/mux v1.8.1 h1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=
github.com/gorilla/mux v1.8.1/go.mod h1:AKf9I4AEqPTmMytcMc0KkNouC66V3BtZ4qD5fmWSiMQ=
github.com/sirupsen/logrus v1.10.2 h1:G2SED73/qrAu6YwbdxOD6peLkCBI3z7L+ykJFTXJBBo=
github.com/sirupsen/logrus v1.10.2/go.mod h1:SLEg8TqYulVKKfIGHldVp2K2aYz2DKSVBq4g/H5bR7Q=
github.com/stretchr/testify v1.12.1 h1:EuwCh5fleGS7H32xRwO3wRGT7DxrDhLAT6FF8MpWDWE=
github.com/stretchr/testify v1.12.1/go.mod h1:MDEgiDPPsNp5cuIrHPPCyornHKgEVbtFUmoNlxoYthg=
go.yaml.in/yaml/v3 v3.0.5 h1:N6y/pJk8buWs9NY5ERU2HSMfm+IuD/OtfdAnq6kESPw=
go.yaml.in/yaml/v3 v3.0.5/go.mod h1:HVTZu1O7/Vkt2N+BFy8Zza+lnLsABggaTM2ZpNIGuKg=
golang.org/x/crypto v0.59.0 h1:xS2jhqYbzNrpvkWP2YTDf4TJwBy3ykR03i8vFDxEc7c=
golang.org/x/crypto v0.59.0/go.mod h1:veDyUwATGs3c+vN3VfTbzViMGXeTBk3WyhBOkn+F/4U=
golang.org/x/sys v0.50.0 h1:dkKZEFTEKaLr1sjhs0WiKqoi8Jj5nHbS3Njmx1UoMJs=
golang.org/x/sys v0.50.0/go.mod h1:hNLxWAXmnKAxqDtdwIYC4bM9oQPEecfsnNMuSxOs3og=
EOF
  local start
  start=$(date +%s)
  echo "building distribution's token server $TOKEN_SERVER_VERSION into $out" >&2
  (cd "$tmp/src" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod \
    go build -trimpath -ldflags "-s -w" -o "$tmp/token-server" github.com/docker/distribution/contrib/token-server) >&2
  rm -rf "$tmp/src"
  rm -rf "$out"; mv "$tmp" "$out"
  trap - EXIT
  echo "built in $(( $(date +%s) - start ))s" >&2
  echo "$out/token-server"
}

[ "$mode" = --token-server ] || install_debian_packages
build_token_server
