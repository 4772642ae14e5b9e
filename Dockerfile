# syntax=docker/dockerfile:1
# One image for the gateway, the stage workers and the conversion step (README, "Container image"):
#   docker build -t chatglm-cluster .
#   docker run chatglm-cluster gateway --model /model ...   |   worker ...   |   convert ...
# The Helm chart (deploy/helm/chatglm-cluster) runs it with those first arguments.

# Build stage: production dependencies only (pnpm install --prod), from the lockfile.
FROM node:20-bookworm-slim AS install
ARG PNPM_VERSION=12.21.0
RUN npm install -g --no-audit --no-fund "pnpm@${PNPM_VERSION}"
WORKDIR /app
COPY . .
RUN pnpm install --prod --frozen-lockfile \
 && rm -rf /root/.cache /root/.local/share/pnpm

# Run stage: Node, the Vulkan loader and glvnd (for --device webgpu; the NVIDIA driver's Vulkan ICD
# comes from the host through the NVIDIA container runtime, and offers no Vulkan instance without
# glvnd beside it), tini to pass signals on, and the app as user 1000.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libvulkan1 libglvnd0 libglx0 libegl1 tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=install --chown=1000:1000 /app /app
# Numeric, so that Kubernetes can check runAsNonRoot.
USER 1000:1000
ENV NODE_ENV=production \
    CHATGLM_CACHE_DIR=/home/node/.cache/chatglm-cluster
EXPOSE 8000 50051 9400
ENTRYPOINT ["/usr/bin/tini", "--", "/app/deploy/docker/entrypoint.sh"]
CMD ["--help"]
