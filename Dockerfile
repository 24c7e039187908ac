# One image for every traceledger service (ingest, consumer, query). The TypeScript sources run
# as they are through tsx, as in development; docker-compose.yml picks the service per container:
#
#   docker build -t traceledger .
#   docker run --rm -p 4001:4001 -e KAFKA_BROKERS=... traceledger                     # ingest
#   docker run --rm -e DATABASE_URL=... -e KAFKA_BROKERS=... traceledger \
#     node --import tsx services/consumer/src/main.ts                                  # consumer
#
# `node --import tsx <file>` is what `npx tsx <file>` does, minus the npx and tsx wrapper
# processes: node runs as PID 1 and receives SIGTERM itself, so the services' drain-on-SIGTERM
# handlers run on `docker stop`.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- manifests: only the package.json files, so the dependency layer below is rebuilt only
# when a manifest or the lockfile changes, not on every source edit.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY packages ./packages
COPY services ./services
RUN mkdir /manifests \
 && find packages services -mindepth 2 -maxdepth 2 -name package.json -exec cp --parents {} /manifests/ \;

# --- deps: the workspace install, production dependencies only (tsx is one; typescript,
# vitest and testcontainers are devDependencies and stay out of the image).
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=manifests /manifests/ ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# --- runtime
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0
WORKDIR /app
# The whole install (root node_modules with the workspace links, and any nested node_modules npm
# put under a workspace), then the sources over it. Everything stays owned by root and only
# readable by `node`: the services never write to their own tree (tsx caches under /tmp).
COPY --from=deps /app ./
COPY tsconfig.json ./
COPY packages ./packages
COPY services ./services
# Found at run time relative to the package sources (packages/contract reads ../../../schemas,
# packages/db reads ../../../migrations), so they must sit beside packages/ in /app.
COPY schemas ./schemas
COPY migrations ./migrations
USER node
EXPOSE 4001 4002
CMD ["node", "--import", "tsx", "services/ingest/src/main.ts"]
