# crmbot in a container: a build stage with the Rust toolchain, then the binary alone on a
# distroless base (glibc and CA certificates, no shell), running as a non-root user.
#
#   docker build -t crmbot .
#   docker run -p 3000:3000 -v crmbot-data:/data --env-file crmbot.env crmbot
#
# Secrets can come from files (Docker/Kubernetes secrets): SLACK_BOT_TOKEN_FILE=/run/secrets/...
# Keep /data on a volume and back it up whole: the database and its audit mirror together.

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin crmbot \
 && mkdir -p /data-empty

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/crmbot /usr/local/bin/crmbot
COPY --from=build --chown=65532:65532 /data-empty /data
USER nonroot
ENV CRMBOT_LISTEN=0.0.0.0:3000 \
    CRMBOT_DATA_DIR=/data \
    CRMBOT_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/crmbot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/crmbot"]
CMD ["serve"]
