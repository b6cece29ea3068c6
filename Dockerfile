# syntax=docker/dockerfile:1
# Build: the same static build as `make docker-build-static`.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not in the build context: the Makefile's version comes from here.
ARG VERSION=dev
ARG COMMIT=unknown
RUN make docker-build-static VERSION=$VERSION COMMIT=$COMMIT

# Run: a small Debian with tini as PID 1 (signals, zombie reaping), as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin llmrouter
COPY --from=build /src/bin/llmrouter /usr/local/bin/llmrouter
COPY configs/ /etc/llmrouter/
# The offline default runs as is; mount your own file over config.yaml.
COPY configs/default.yaml /etc/llmrouter/config.yaml
USER 10001:10001
EXPOSE 8080
# The probe reads server.listen from the same file the server runs with, so a
# mounted config on another port stays healthy.
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/llmrouter", "healthcheck", "-config", "/etc/llmrouter/config.yaml"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/llmrouter"]
CMD ["-config", "/etc/llmrouter/config.yaml"]
