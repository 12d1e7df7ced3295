#!/usr/bin/env bash
# moto, the AWS stand-in the cloud-registry tests run on loopback (test/support/moto.ts): its
# server speaks the real ECR and STS wire protocols, so the operator's AWS SDK clients sign and
# send real requests to it. Installed from PyPI into a venv in the tools cache, keyed by version,
# once; later runs need no network. Prints the moto_server path on its last line.
set -euo pipefail

MOTO_VERSION=5.2.5
cache_root=${REGCRED_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/regcred-operator}
venv="$cache_root/moto-$MOTO_VERSION"
# A venv's scripts name its interpreter by absolute path, so it is built in place; the stamp says
# the install finished (a venv left by an interrupted run is built again).
if [ -e "$venv/.installed" ] && [ -x "$venv/bin/moto_server" ]; then echo "$venv/bin/moto_server"; exit 0; fi
# Debian splits venv support (ensurepip) out of python3: install both when either is missing.
if ! command -v python3 >/dev/null || ! python3 -c 'import ensurepip' 2>/dev/null; then
  apt-get update >&2 && apt-get install -y python3 python3-venv >&2
fi

rm -rf "$venv"
mkdir -p "$cache_root"
trap 'rm -rf "$venv"' EXIT
echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
touch "$venv/.installed"
trap - EXIT
echo "$venv/bin/moto_server"
