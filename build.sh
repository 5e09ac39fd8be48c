#!/usr/bin/env bash
# One entry point for builds and tests on a fresh machine.
#
#   ./build.sh test    install what the tests need (Debian python3-onnx and chromium, npm onnxruntime-node) when missing,
#                      then build and run every test in Release
#   ./build.sh setup   only the installs
#   ./build.sh build   only the build
set -euo pipefail
cd "$(dirname "$0")"

setup() {
  # ONNX checker (python3-onnx) for the export tests; Debian's own python3, not a pyenv one.
  if ! /usr/bin/python3 -c "import onnx, numpy" >/dev/null 2>&1; then
    echo "build.sh: installing python3-onnx and python3-numpy (apt)"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-onnx python3-numpy >/dev/null
  fi
  # Headless Chromium renders the HTML report of 'mlnet-reg compare' in the CLI tests.
  if ! command -v chromium >/dev/null 2>&1; then
    echo "build.sh: installing chromium (apt)"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  fi
  # Real ONNX Runtime (libonnxruntime.so) from the npm package; --ignore-scripts skips its GPU download.
  if [ ! -f tools/onnxruntime/node_modules/onnxruntime-node/package.json ]; then
    echo "build.sh: installing onnxruntime-node (npm)"
    (cd tools/onnxruntime && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

case "${1:-test}" in
  setup) setup ;;
  build) dotnet build MLNet.Regularization.sln -c Release ;;
  test)
    setup
    dotnet build MLNet.Regularization.sln -c Release
    dotnet test MLNet.Regularization.sln -c Release --no-build --logger "console;verbosity=normal"
    ;;
  *) echo "usage: ./build.sh [test|setup|build]" >&2; exit 2 ;;
esac
