# syntax=docker/dockerfile:1
# KubeScribe in one image: the API server (`kubescribe serve`), the runner (`kubescribe run -- ...`),
# `kubescribe migrate`, python3 for Python jobs such as the example in examples/report, and the
# single-file runner at /app/dist/runner/kubescribe that the init container of every job pod copies
# into the pod (`runner: inject`, the default), so job pods keep their own image.
# Build: docker build -t registry.example.com/kubescribe:0.1.0 .   Kubernetes: docs/kubernetes.md.

# Node 24 is the active LTS; the code also runs on Node 20 (CI runs both).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
# The single-file runner is this stage's node binary (Node 24, glibc, this platform) with the runner
# bundled in (scripts/build-runner.mjs); it needs esbuild and postject, so it is built before the prune.
RUN node scripts/build.mjs && node scripts/build-runner.mjs && rm dist/runner/runner.cjs && npm prune --omit=dev

FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid: the manifests' runAsNonRoot/runAsUser (10001) can then be checked by the kubelet.
RUN groupadd --gid 10001 kubescribe \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin kubescribe
ENV NODE_ENV=production \
    KUBESCRIBE_HOME=/tmp/kubescribe \
    PYTHONPATH=/app/helpers/python \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY helpers ./helpers
COPY examples ./examples
RUN ln -s /app/bin/kubescribe.js /usr/local/bin/kubescribe \
 && install -d -o 10001 -g 10001 /app/compile-cache
USER 10001:10001
# V8's compile cache for the CLI, built now and read at every start (bin/kubescribe.js uses
# /app/compile-cache when it exists; docs/runner.md, "Start-up and V8's compile cache"). Node keeps
# one per uid, so it is built as the uid that runs. Two runs load all of `kubescribe run`'s code, one
# per sink, neither reachable (their records stay in a spool, removed), and --help the command tree.
RUN for sink in DATABASE_URL=postgres://127.0.0.1:1/warm KUBESCRIBE_API_URL=http://127.0.0.1:1; do \
      env KUBESCRIBE_HOME=/tmp/warm KUBESCRIBE_TOKEN=warm "$sink" kubescribe run -q --flush-timeout 1ms --job warm -- true 2>/dev/null || exit 1; \
    done \
 && kubescribe --help >/dev/null \
 && rm -rf /tmp/warm
EXPOSE 8080
ENTRYPOINT ["kubescribe"]
# serve listens on loopback unless told otherwise: in a container, the port must be reachable from outside.
CMD ["serve", "--host", "0.0.0.0"]
