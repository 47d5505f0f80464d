#!/usr/bin/env bash
# Builds the kernel programs: build/faultline.bpf.o (CO-RE, BTF-relocated at load).
#   bpf/build.sh [OBJECT [CLANG_FLAG...]]   another output, with extra flags (tests: -DFAULTLINE_TEST_...)
# vmlinux.h is generated here from the running kernel's BTF and never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build
mkdir -p "$out"
btf=${FAULTLINE_VMLINUX_BTF:-/sys/kernel/btf/vmlinux}
for tool in clang bpftool; do
  command -v "$tool" >/dev/null || { echo "bpf/build.sh: $tool not found: apt-get install clang llvm bpftool libbpf-dev" >&2; exit 1; }
done
[ -r "$btf" ] || { echo "bpf/build.sh: no kernel BTF at $btf: the kernel needs CONFIG_DEBUG_INFO_BTF=y (or set FAULTLINE_VMLINUX_BTF)" >&2; exit 1; }
[ -r /usr/include/bpf/bpf_helpers.h ] || { echo "bpf/build.sh: libbpf headers missing: apt-get install libbpf-dev" >&2; exit 1; }
if [ ! -s "$out/vmlinux.h" ] || [ "$btf" -nt "$out/vmlinux.h" ]; then
  bpftool btf dump file "$btf" format c > "$out/vmlinux.h.tmp"
  mv "$out/vmlinux.h.tmp" "$out/vmlinux.h"
fi
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
object=${1:-$out/faultline.bpf.o}
shift $(($# > 0 ? 1 : 0))
# Up to date (no extra flags, and nothing it is built from is newer): nothing to do. npm test builds after
# scripts/setup.sh has, and CI pays for one compile, not two.
if [ $# -eq 0 ] && [ -s "$object" ] && [ -z "$(find bpf "$out/vmlinux.h" -newer "$object" -print -quit)" ]; then
  echo "up to date: $object"
  exit 0
fi
clang -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_"$arch" "$@" \
  -I "$out" -I bpf -c bpf/faultline.bpf.c -o "$object"
echo "built $object"
