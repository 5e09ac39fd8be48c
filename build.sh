#!/usr/bin/env bash
# One entry point for builds and tests on a fresh machine.
#
#   ./build.sh test    install what the tests need (Debian python3-onnx and chromium) when missing, then build and
#                      run every test in Release (ONNX Runtime comes from NuGet, like every other package)
#   ./build.sh setup   only the installs
#   ./build.sh build   only the build
set -euo pipefail
cd "$(dirname "$0")"

# apt-get, as root or through sudo, waiting up to ten minutes for another apt or dpkg to release its lock
# instead of failing at once.
apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  local wait=(-o DPkg::Lock::Timeout=600)
  $sudo apt-get "${wait[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get "${wait[@]}" install -y -qq "$@" >/dev/null
}

setup() {
  # ONNX checker (python3-onnx) for the export tests; Debian's own python3, not a pyenv one.
  if ! /usr/bin/python3 -c "import onnx, numpy" >/dev/null 2>&1; then
    echo "build.sh: installing python3-onnx and python3-numpy (apt)"
    apt_install python3-onnx python3-numpy
  fi
  # Headless Chromium renders the HTML report of 'mlnet-reg compare' in the CLI tests.
  if ! command -v chromium >/dev/null 2>&1; then
    echo "build.sh: installing chromium (apt)"
    apt_install chromium
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
