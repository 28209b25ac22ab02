# The worker image (docker-compose.yml builds it). Build with the dev
# dependencies, run with the production ones, as the unprivileged `node` user.
#   docker build -t t2t-worker .
#   docker run --init -e TEMPORAL_ADDRESS=… -e T2T_DATABASE_URL=postgres://… t2t-worker

FROM node:20-bookworm-slim AS build
# better-sqlite3 compiles natively when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The postinstall fetches the Temporal CLI and test server, and Temporal's Python
# SDK for one test: for development and tests only, not in the image.
ENV T2T_SKIP_TEMPORAL_BINARIES=1
ENV T2T_SKIP_PYTHON_SDK=1
COPY package.json package-lock.json ./
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
# the demo world and mapping file, for `t2t demo` / `t2t world load` in the container
COPY examples ./examples
# T2T_DATA_DIR's default (.data): only used without T2T_DATABASE_URL (SQLite).
RUN mkdir -p /app/.data && chown node:node /app/.data
USER node
# Prometheus metrics, when T2T_METRICS_ADDRESS=0.0.0.0:9464 is set.
EXPOSE 9464
# The worker drains on SIGTERM: running activities get T2T_SHUTDOWN_GRACE (30s)
# to finish; give the container longer than that to stop (compose: 60s).
STOPSIGNAL SIGTERM
# The same entry point as `npm run worker`. The client runs with
# `node dist/src/client/cli.js …` in the same image.
CMD ["node", "dist/src/worker.js"]
