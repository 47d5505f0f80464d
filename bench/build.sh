#!/usr/bin/env bash
# Builds the benchmark's pieces: the storm workload, the empty floor programs, the harness.
set -euo pipefail
cd "$(dirname "$0")/.."
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
clang -g -O2 -Wall -target bpf -D__TARGET_ARCH_"$arch" -I build -c bench/empty.bpf.c -o build/empty.bpf.o
cc -O2 -Wall -pthread -o build/storm bench/storm.c
cc -O2 -Wall -o build/startups bench/startups.c
npx tsc -p bench/tsconfig.json
