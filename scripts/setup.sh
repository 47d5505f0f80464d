#!/usr/bin/env bash
# The contributor setup, on Debian 12 / Ubuntu 22.04+ (as root): the build and
# test tools, npm dependencies, tracefs, the BPF object and the TypeScript, so
# that `npm test` runs. Safe to run again. To install faultline to run it, use
# scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/setup.sh: run as root (it installs packages and mounts tracefs)" >&2
  exit 1
fi

# Build: clang/llvm/libbpf-dev/bpftool. Runtime: libbpf1, node. Tests: gcc,
# bpftrace, prometheus (promtool), util-linux (setpriv), Go with sprig and
# yaml.v3 for the Helm chart renderer (test/helm/render.go), and chromium for
# the live pages' browser test (driven by playwright-core; no browser download).
packages=(clang llvm libbpf-dev libbpf1 bpftool gcc libc6-dev make bpftrace prometheus util-linux ca-certificates curl openssl
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's prometheus package starts a server on :9090 when it is installed; the tests only need
# promtool and run their own servers. A server this script just installed is stopped and disabled;
# one that was there before is the user's, and is left alone.
if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null && systemctl is-enabled --quiet prometheus 2>/dev/null; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

if [ ! -d /sys/kernel/tracing/events ] && [ ! -d /sys/kernel/debug/tracing/events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing
fi

npm ci --no-audit --no-fund
npm run build
