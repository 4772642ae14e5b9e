# Sourced by scripts/start and scripts/test: makes sure pnpm, the node modules and redis-server
# are present on a fresh Debian/Ubuntu machine with Node 20.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PNPM_VERSION=12.21.0

say() { echo "[prepare] $*" >&2; }

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))."
  exit 1
fi

# pnpm: the machine's if it is the tested version, else a project-local copy in .tools/
# (no root needed; corepack and a packageManager field do not work offline here).
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  if [ "$(.tools/bin/pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
    say "installing pnpm $PNPM_VERSION into .tools/"
    npm install -g --prefix "$ROOT/.tools" --no-audit --no-fund --loglevel=error "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$ROOT/.tools/bin:$PATH"
fi

pnpm install --frozen-lockfile --prefer-offline --reporter=silent >&2

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing redis-server with apt-get"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  else
    say "redis-server is missing. Install it, then run this again:"
    say "  sudo apt-get update && sudo apt-get install -y redis-server"
    exit 1
  fi
fi

# The WebGPU tests run ONNX Runtime's WebGPU provider on SwiftShader, the CPU Vulkan driver that
# Debian's chromium package ships, through the Vulkan loader (libvulkan1). Only the tests need it.
ensure_swiftshader() {
  if [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] && [ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ]; then return 0; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing chromium (for its SwiftShader Vulkan driver) and libvulkan1 with apt-get, for the WebGPU tests"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium libvulkan1 >&2
  else
    say "the WebGPU tests need SwiftShader and the Vulkan loader; without them they are skipped. Install with:"
    say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium libvulkan1"
  fi
}

# The monitoring tests run a real Prometheus (and promtool) from Debian's prometheus package against a
# local cluster. Only the tests need it.
ensure_prometheus() {
  if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then return 0; fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    say "installing prometheus with apt-get, for the monitoring tests"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
  else
    say "the monitoring tests need Prometheus; without it they are skipped. Install with:"
    say "  sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus"
  fi
}

# The chart's tests run real helm: built once into .tools/bin from its Go module (about 2 minutes on
# 2 cores; Go's module proxy serves it), then reused.
HELM_VERSION=v3.22.0
ensure_helm() {
  if [ -x "$ROOT/.tools/bin/helm" ]; then return 0; fi
  if command -v go >/dev/null 2>&1; then
    say "building helm $HELM_VERSION into .tools/bin (once), for the chart's tests"
    GOBIN="$ROOT/.tools/bin" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  else
    say "the chart's tests need helm; without it they are skipped. Build it with Go:"
    say "  GOBIN=$ROOT/.tools/bin go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  fi
}
