# syntax=docker/dockerfile:1
# Build: TypeScript to dist/, the malloc_trim addon (src/malloc-trim.ts) with the full image's C
# compiler, then keep only the production dependencies.
FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
COPY native/ native/
RUN npm run build && npm run build:native && npm prune --omit=dev

# Run: distroless Node 24 (Debian 12), no shell, no package manager, user nonroot (65532).
FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/build/ build/
# The image's nonroot user, numerically, so runAsNonRoot can be checked without /etc/passwd.
USER 65532:65532
EXPOSE 8080 8081
# node and the operator together, so the Deployment's `args` (operator flags) follow dist/main.js
# instead of replacing it. A 2 MiB young generation (Node's default lets it grow to 16 MiB per
# semi-space) holds RSS down by about a quarter at 10,000 namespaces at no measurable CPU cost. Without
# a heap limit V8 lets the old generation grow to up to 4× what survived the last full GC; 2× took
# peak RSS through a 10,000-namespace fan-out and rotation from about 310 MiB to 235 MiB for about 8%
# more CPU. V8's memory saver mode lets its memory reducer give the heap back once a burst of writes
# is over (otherwise the heap stays at its peak size for as long as the operator idles): RSS 30 s
# after a 10,000-namespace start-up went from about 210 MiB to 150 MiB for no measurable CPU. Two
# malloc arenas instead of one per thread took about 10 MiB more off RSS, and one instead of two
# about 2.5 MiB more, again for no measurable CPU (README, Performance). make bench runs the
# operator with the flags and environment written here.
ENV MALLOC_ARENA_MAX=1
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=2", "--heap-growing-percent=100", "--memory-saver-mode", "dist/main.js"]
