#!/usr/bin/env bash
# Installs faultline to run it, as root on Debian 12 / Ubuntu 22.04 or later: what it needs at run
# time (Node.js 20 or later, libbpf1) and the faultline package, with `npm install -g`, so that
# `faultline` is on PATH. Nothing else on the host changes: no other service is stopped or started.
#
#   scripts/install.sh [--package FILE] [--prefix DIR] [--systemd]
#
#   --package FILE  a packaged faultline (faultline-VERSION.tgz, from `npm pack`): the host needs no
#                   compiler. Without it, this checkout is built and packed first, which installs the
#                   build tools (clang, llvm, bpftool, libbpf-dev) and needs the kernel's BTF.
#   --prefix DIR    install under DIR (DIR/bin/faultline) instead of npm's global prefix
#   --systemd       also install deploy/systemd/faultline.service, pointed at the installed
#                   faultline, and enable and start it (a dedicated user, the capabilities it needs)
#
# Then: `faultline check` (can it run here?) and `faultline serve` (metrics on :10190).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "install.sh: $*" >&2; }
die() { say "$*"; exit 1; }

package='' prefix='' systemd=0
while [ $# -gt 0 ]; do
  case $1 in
    --package) [ $# -ge 2 ] || die "--package needs a file"; package=$2; shift 2 ;;
    --package=*) package=${1#*=}; shift ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --systemd) systemd=1; shift ;;
    -h|--help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument ${1@Q}; see scripts/install.sh --help" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root: it installs packages"
[ -z "$package" ] || [ -f "$package" ] || die "--package ${package@Q}: no such file"
[ $systemd -eq 0 ] || [ -z "$prefix" ] || die "--systemd installs for the host: leave out --prefix"
[ $systemd -eq 0 ] || [ -d /run/systemd/system ] || die "--systemd: systemd is not running on this host (no /run/systemd/system); start faultline another way, e.g. faultline serve"


installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_install() {
  local missing=()
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Run time: libbpf1, and Node.js 20 or later with npm. Debian 12's own nodejs is 18: then say where to get one.
apt_install libbpf1 ca-certificates
if ! command -v node >/dev/null; then apt_install nodejs npm; fi
if [ "$(node_major)" -lt 20 ]; then
  die "Node.js $(node --version 2>/dev/null || echo none) is too old: faultline needs 20 or later (tested: 20 and 24). Install one from https://nodejs.org or NodeSource's Debian packages, then run this again"
fi
command -v npm >/dev/null || apt_install npm

if [ -z "$package" ]; then
  # From this checkout: the build tools only (not the test tools: that is scripts/setup.sh), then pack.
  apt_install clang llvm libbpf-dev bpftool
  [ -r /sys/kernel/btf/vmlinux ] || die "no kernel BTF at /sys/kernel/btf/vmlinux: build the package on a machine with CONFIG_DEBUG_INFO_BTF=y, then pass it with --package"
  say "building faultline from this checkout"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  npm pack --silent --pack-destination "$out" >/dev/null
  package=$(echo "$out"/faultline-*.tgz)
fi

say "installing $(basename "$package")${prefix:+ under $prefix}"
npm install --global --no-audit --no-fund --loglevel=error ${prefix:+--prefix "$prefix"} "$(realpath "$package")" >/dev/null
bin=${prefix:+$prefix/bin/faultline}
bin=${bin:-$(npm prefix --global)/bin/faultline}
[ -x "$bin" ] || die "npm installed no $bin"
say "installed $("$bin" --version) as $bin"

if [ $systemd -eq 1 ]; then
  unit="$(npm root --global)/faultline/deploy/systemd/faultline.service"
  [ -r "$unit" ] || die "the package has no $unit"
  sed "s#^\(\#\{0,1\}ExecStart=\)/usr/local/bin/faultline #\1$bin #" "$unit" > /etc/systemd/system/faultline.service
  systemctl daemon-reload
  systemctl enable --now faultline
  say "faultline.service enabled and started: systemctl status faultline; curl -s localhost:10190/metrics"
fi
