# One image for every traceledger service (ingest, consumer, query). The services run as compiled
# JavaScript (`tsc -b` into each package's dist/, resolved through the "compiled" export condition);
# docker-compose.yml picks the service per container:
#
#   docker build -t traceledger .
#   docker run --rm -p 4001:4001 -e KAFKA_BROKERS=... traceledger                     # ingest
#   docker run --rm -e DATABASE_URL=... -e KAFKA_BROKERS=... traceledger \
#     node --conditions=compiled services/consumer/dist/main.js                       # consumer
#
# node runs as PID 1 and receives SIGTERM itself, so the services' drain-on-SIGTERM handlers run
# on `docker stop`. The operator CLI is in the image too:
#   docker run --rm ... traceledger node --conditions=compiled packages/cli/dist/main.js --help

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

# --- build: the whole workspace with dev dependencies, compiled with `tsc -b` into dist/.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=manifests /manifests/ ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY packages ./packages
COPY services ./services
RUN npx tsc -b tsconfig.build.json

# --- runtime
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    HOST=0.0.0.0
WORKDIR /app
# The whole install (root node_modules with the workspace links, and any nested node_modules npm
# put under a workspace), then the sources over it. Everything stays owned by root and only
# readable by `node`: the services never write to their own tree.
COPY --from=deps /app ./
COPY tsconfig.json ./
# Sources and their compiled dist/ (the dashboard's page files are read from src/dashboard/).
COPY --from=build /app/packages ./packages
COPY --from=build /app/services ./services
# Found at run time relative to the packages (packages/contract reads ../../../schemas,
# packages/db reads ../../../migrations and ../../../prices), so they must sit beside packages/ in /app.
COPY schemas ./schemas
COPY migrations ./migrations
COPY prices ./prices
USER node
EXPOSE 4001 4002 4003
CMD ["node", "--conditions=compiled", "services/ingest/dist/main.js"]
