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
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
COPY package.json ./
COPY config config
USER node
CMD ["node", "dist/apps/api-gateway/src/main.js"]
