# faultline's container image: the build stage builds the BPF object and the TypeScript (the same
# steps as docs/deployment.md's "Build from source"; test/dockerfile.test.ts checks) and packs them
# as a host installs them (npm pack); the runtime stage is Node.js, libbpf1 and that package.
# The build host needs kernel BTF (/sys/kernel/btf/vmlinux): vmlinux.h is generated from it;
# CO-RE relocates the object on whatever kernel runs it.
#   docker build -t REGISTRY/faultline:0.2.0 . && docker push REGISTRY/faultline:0.2.0

FROM node:24-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
RUN npm pack --ignore-scripts --pack-destination /pkg

FROM node:24-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libbpf1 && rm -rf /var/lib/apt/lists/*
COPY --from=build /pkg/ /tmp/pkg/
RUN npm install --global --no-audit --no-fund /tmp/pkg/faultline-*.tgz && rm -rf /tmp/pkg /root/.npm
EXPOSE 10190
ENTRYPOINT ["faultline"]
CMD ["serve"]
