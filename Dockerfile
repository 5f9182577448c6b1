# syntax=docker/dockerfile:1
#
# One image, two programs: the server (`ai-orchestrator`, the default) and the Kubernetes
# operator (`ai-orchestrator-operator`, run with `command: ["ai-orchestrator-operator"]`).
# One image keeps server and operator at the same version and halves what is built,
# scanned and pulled; the operator adds only a few MB to the image.
#
#   docker build -t ai-orchestrator .
#   docker run -p 8001:8001 -v ai-data:/data ai-orchestrator
#
# Commands the server runs are confined by Landlock (no privilege needed; kernel >= 5.13).
# The namespace layer (deny globs masked, private /proc) also needs unprivileged user
# namespaces, which Docker's default seccomp profile refuses: add
#   --security-opt seccomp=unconfined --security-opt systempaths=unconfined
# to get it; /health reports which layers are active (docs/security.md).

# --- dependency cache: cargo-chef turns the manifests into a recipe, so the dependencies
# are rebuilt only when Cargo.toml/Cargo.lock change, not on every source edit.
FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY Cargo.toml Cargo.lock ./
COPY policy policy
COPY server server
COPY operator operator
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p ai-orchestrator -p ai-orchestrator-operator
COPY Cargo.toml Cargo.lock ./
COPY policy policy
COPY server server
COPY operator operator
RUN cargo build --release --locked -p ai-orchestrator -p ai-orchestrator-operator \
    && install -D -m 0755 target/release/ai-orchestrator /out/ai-orchestrator \
    && install -D -m 0755 target/release/ai-orchestrator-sandbox /out/ai-orchestrator-sandbox \
    && install -D -m 0755 target/release/ai-orchestrator-operator /out/ai-orchestrator-operator

# --- runtime: glibc of the same Debian release as the builder, CA roots, and the programs
# the built-in, shipped (config/policy.yaml) and example policies allow the agent to run:
#   coreutils: cat date df du head ls tail uname wc whoami · grep · hostname
#   procps: free ps uptime · git
# (server/tests/image.rs checks this list against those policies.) The ci-cd example also
# allows `cargo`, a large toolchain left out by default: add it with
#   docker build --build-arg EXTRA_PACKAGES=cargo -t ai-orchestrator .
FROM debian:bookworm-slim AS runtime
ARG EXTRA_PACKAGES=""
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
       coreutils grep hostname procps git $EXTRA_PACKAGES \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 orchestrator \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin orchestrator \
    && mkdir -p /data/workspace /etc/ai-orchestrator /var/run/secrets/ai-orchestrator \
    && chown -R 10001:10001 /data
COPY --from=builder /out/ai-orchestrator /out/ai-orchestrator-sandbox /out/ai-orchestrator-operator /usr/local/bin/

ENV AI_HOST=0.0.0.0 \
    AI_PORT=8001 \
    AI_DATA_DIR=/data \
    AI_CONFIG_DIR=/etc/ai-orchestrator \
    AI_SECRETS_DIR=/var/run/secrets/ai-orchestrator

USER 10001:10001
WORKDIR /data
VOLUME /data
EXPOSE 8001
# `docker run IMAGE --version` prints the version (the entrypoint takes flags as well as subcommands).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["ai-orchestrator", "healthcheck"]
ENTRYPOINT ["ai-orchestrator"]
CMD ["serve"]
