# faultline's container image: build the BPF object and the TypeScript in one
# stage; the runtime stage is node and libbpf1. The build stage runs the same
# steps as the README's "Build from source" (test/dockerfile.test.ts checks).
# The build host needs kernel BTF (/sys/kernel/btf/vmlinux): vmlinux.h is
# generated from it; CO-RE relocates the object on whatever kernel runs it.
#   docker build -t REGISTRY/faultline:0.1.0 . && docker push REGISTRY/faultline:0.1.0

FROM node:20-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
RUN npm prune --omit=dev

FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libbpf1 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/faultline
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/build/faultline.bpf.o ./build/faultline.bpf.o
EXPOSE 10190
ENTRYPOINT ["node", "/opt/faultline/dist/cli/main.js"]
CMD ["serve"]
