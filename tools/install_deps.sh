#!/bin/sh
# install_deps.sh - installs every Debian 12 package kiln needs to build, test and train
# (compiler, Meson, Check, OpenBLAS, OpenCL with PoCL and CLBlast, Vulkan with Mesa
# lavapipe and the validation layers, shader tools, Fashion-MNIST, the Chinese fortunes
# that fortunes-zh-5 is built from, clang-format, and clang with its libFuzzer and
# sanitizer runtimes for the fuzz targets).
# Non-interactive. Does nothing when not run as root or when KILN_NO_APT=1.
set -eu
DEPS="meson ninja-build pkg-config gcc libc6-dev check libopenblas-dev libcjson-dev zlib1g-dev
libpng-dev ocl-icd-opencl-dev opencl-c-headers pocl-opencl-icd clinfo libclblast-dev
libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers glslang-tools spirv-tools
dataset-fashion-mnist fortunes-zh clang-format clang libclang-rt-14-dev"
if [ "${KILN_NO_APT:-0}" = 1 ]; then
    echo "install_deps.sh: KILN_NO_APT=1: not installing packages"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install_deps.sh: not root: not installing packages; as root, run:"
    echo "  apt-get install" $DEPS
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q -o Dpkg::Use-Pty=0 $DEPS
