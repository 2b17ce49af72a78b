#!/usr/bin/env bash
# install-deps.sh — install what ferry needs to build, test and run its demo on Debian 12,
# only what is missing. Runs apt-get as root or through sudo.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libsqlite3-dev libyaml-dev libzstd-dev libxxhash-dev
      libpq-dev nettle-dev libjansson-dev sqlite3 postgresql time python3 python3-psycopg2 pgbouncer clang libclang-rt-14-dev)
[ "${FERRY_BENCH_DEPS:-0}" = 1 ] && pkgs+=(pgloader sqlite3-tools)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
