# One image for every process; the entry point picks the app:
#   docker run IMAGE node dist/apps/api-gateway/src/main.js   (router-worker, health-monitor likewise)
#   docker run IMAGE node dist/apps/all-in-one/src/main.js    (all of them in one process, ADR 0010)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps apps
COPY libs libs
COPY tools tools
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# tini is PID 1 and node its child. PID 1 of a container gets only the signals it has a handler for, and node has
# none for SIGTERM until an app has started (the migrate CLI none at all): `docker stop`, or the kubelet stopping a
# pod whose `migrate` init container waits for another pod's migration, or whose app waits for Redis at boot, was
# ignored until the grace period's SIGKILL (140 s). tini passes every signal on, and reaps what node leaves behind.
# Start an app with CMD (`docker run IMAGE node ...`, compose's `command`, Kubernetes' `args`): Kubernetes' `command`
# and compose's `entrypoint` replace tini.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY config config
USER node
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/apps/api-gateway/src/main.js"]
