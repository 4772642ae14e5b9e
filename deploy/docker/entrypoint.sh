#!/bin/sh
# The container image's entry point: the first argument picks the program.
#   gateway ARGS...   the REST gateway (services/gateway)
#   worker ARGS...    a stage worker; the one holding layer 0 is its pipeline's head (services/worker)
#   ARGS...           any chatglm command: convert, up, chat, --help (services/cli)
set -eu
cd "$(dirname "$0")/../.."
case "${1:-}" in
  gateway) shift; exec node --import tsx services/gateway/src/main.ts "$@" ;;
  worker) shift; exec node --import tsx services/worker/src/main.ts "$@" ;;
  *) exec node --import tsx services/cli/src/main.ts "$@" ;;
esac
