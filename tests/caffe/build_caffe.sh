#!/usr/bin/env bash
# Build real BVLC Caffe (CPU only, pycaffe) for the parity tests: once per machine, cached.
#
# Source: the package registry's sdist brocolli-caffe 9.0.2 (BVLC master 9b89154 plus SSD layers), built with
# CMake against Debian's libraries; pycaffe gets a virtual environment of its own (numpy<2, pinned in
# pycaffe-requirements.txt) because the extension uses the numpy 1 C API. The kit talks to it through
# caffe_runner.py in a separate process (see harness.py).
#
# Idempotent: a finished build is marked by the stamp file BUILT, written last, after a smoke test, and
# recording a hash of this recipe. Without a matching stamp every step runs again and resumes what is there
# (each step finishes into a temporary name or a step marker), so an interrupted build is never taken for a
# finished one.
#
# Usage:  bash tests/caffe/build_caffe.sh
# Environment: FCN_CAFFE_HOME (cache folder, default ~/.cache/fcn-kit/caffe), FCN_CAFFE_JOBS (parallel compile
# jobs, default 2), FCN_CAFFE_SYSTEM_PYTHON (interpreter the pycaffe venv is made from; it must match
# Debian's libboost-python, default /usr/bin/python3).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
home=${FCN_CAFFE_HOME:-$HOME/.cache/fcn-kit/caffe}
jobs=${FCN_CAFFE_JOBS:-2}
sys_py=${FCN_CAFFE_SYSTEM_PYTHON:-/usr/bin/python3}
requirements=$here/pycaffe-requirements.txt

pkg=brocolli-caffe
version=9.0.2
sdist_sha256=c6410cc60bdd6db685d441b66be7df05410f8850ac88d6b75d48ef9b2315c08a
src=$home/$pkg-$version
build=$home/build
venv=$home/venv
links=$home/links
stamp=$home/BUILT
recipe=$(cat "${BASH_SOURCE[0]}" "$requirements" | sha256sum | cut -c1-16)

say() { printf '[build_caffe %4ss] %s\n' "$(($(date +%s) - ${start:-$(date +%s)}))" "$*"; }
die() { printf '[build_caffe] error: %s\n' "$*" >&2; exit 1; }

stamp_ok() {
    [[ -f $stamp ]] && grep -qx "recipe=$recipe" "$stamp" \
        && [[ -x $venv/bin/python && -e $src/python/caffe/_caffe.so ]]
}

if stamp_ok; then
    say "Caffe is built: $home (python $venv/bin/python, PYTHONPATH $src/python)"
    exit 0
fi

mkdir -p "$home"
# One build at a time per cache folder (make test-caffe and tox may both call this).
exec 9>"$home/.lock"
flock 9
if stamp_ok; then
    say "Caffe is built: $home (python $venv/bin/python, PYTHONPATH $src/python)"
    exit 0
fi
rm -f "$stamp"
start=$(date +%s)

# ---- 1. Debian packages (only the missing ones) ------------------------------------------------------------
# libgtest-dev although no tests are built: net.cpp includes a gtest header.
debs=(build-essential cmake python3-dev python3-venv
      libboost-system-dev libboost-thread-dev libboost-filesystem-dev libboost-regex-dev libboost-python-dev
      libprotobuf-dev protobuf-compiler libgoogle-glog-dev libgflags-dev libhdf5-dev libopenblas-dev libgtest-dev)
missing=()
for deb in "${debs[@]}"; do
    dpkg -s "$deb" >/dev/null 2>&1 || missing+=("$deb")
done
if ((${#missing[@]})); then
    sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "Debian packages missing (${missing[*]}) and not root; install them as root"
        sudo=(sudo)
    fi
    say "installing Debian packages: ${missing[*]} (log: $home/apt.log)"
    { "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
            --no-install-recommends "${missing[@]}"; } >"$home/apt.log" 2>&1 \
        || { tail -n 30 "$home/apt.log" >&2; die "apt-get failed; see $home/apt.log"; }
else
    say "Debian packages present"
fi

# ---- 2. the pycaffe virtual environment ---------------------------------------------------------------------
[[ -x $sys_py ]] || die "no interpreter at $sys_py; set FCN_CAFFE_SYSTEM_PYTHON to a Python 3 matching libboost-python"
req_hash=$(sha256sum "$requirements" | cut -c1-16)
if [[ ! -f $venv/.fcn-ready ]] || [[ $(cat "$venv/.fcn-ready") != "$req_hash" ]]; then
    say "creating the pycaffe venv at $venv"
    rm -rf "$venv"
    "$sys_py" -m venv "$venv"
    "$venv/bin/python" -m pip install --disable-pip-version-check -r "$requirements" >"$home/pip.log" 2>&1 \
        || { tail -n 30 "$home/pip.log" >&2; die "pip install failed; see $home/pip.log"; }
    echo "$req_hash" >"$venv/.fcn-ready"
fi
py_base=$("$venv/bin/python" -c 'import sys; print(sys.base_prefix)')
py_ver=$("$venv/bin/python" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}")')
numpy_inc=$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')

# ---- 3. the source: download, verify, unpack, patch ---------------------------------------------------------
if [[ ! -f $src/.fcn-patched ]]; then
    tarball=$home/dist/$pkg-$version.tar.gz
    if [[ ! -f $tarball ]] || ! echo "$sdist_sha256  $tarball" | sha256sum -c --status; then
        say "downloading the $pkg==$version source package"
        rm -rf "$home/dist.tmp"
        "$venv/bin/python" -m pip download --disable-pip-version-check --no-deps \
            --no-binary :all: "$pkg==$version" -d "$home/dist.tmp" >"$home/pip-download.log" 2>&1 \
            || { tail -n 30 "$home/pip-download.log" >&2; die "pip download failed; see $home/pip-download.log"; }
        echo "$sdist_sha256  $home/dist.tmp/$pkg-$version.tar.gz" | sha256sum -c --status \
            || die "$pkg-$version.tar.gz does not have the expected sha256 $sdist_sha256"
        rm -rf "$home/dist"
        mv "$home/dist.tmp" "$home/dist"
    fi
    say "unpacking and patching the source"
    rm -rf "$src" "$home/unpack.tmp" "$build"
    mkdir -p "$home/unpack.tmp"
    tar -xzf "$tarball" -C "$home/unpack.tmp"
    io_cpp=$home/unpack.tmp/$pkg-$version/src/caffe/util/io.cpp
    # The package lowered Caffe's protobuf read limit to 512 MiB; BVLC Caffe reads up to 2 GiB, and the VGG16
    # and FCN caffemodels are larger than 512 MiB.
    sed -i 's/SetTotalBytesLimit(536870912)/SetTotalBytesLimit(2147483647)/' "$io_cpp"
    n=$(grep -c 'SetTotalBytesLimit(2147483647)' "$io_cpp" || true)
    [[ $n == 2 ]] || die "expected 2 SetTotalBytesLimit(2147483647) calls in io.cpp after patching, found $n"
    mv "$home/unpack.tmp/$pkg-$version" "$src"
    rmdir "$home/unpack.tmp"
    touch "$src/.fcn-patched"
fi

# ---- 4. link folder: the names the CMakeLists links with, pointing at Debian's files ------------------------
arch=$(gcc -print-multiarch)
libdir=/usr/lib/$arch
boost_py=$libdir/libboost_${py_ver//./}.so
[[ -e $boost_py ]] || die "no $boost_py: libboost-python-dev does not match $py_ver; set FCN_CAFFE_SYSTEM_PYTHON"
for f in libhdf5.so libhdf5_hl.so; do
    [[ -e $libdir/hdf5/serial/$f ]] || die "no $libdir/hdf5/serial/$f (package libhdf5-dev)"
done
rm -rf "$links"
mkdir -p "$links"
ln -s "$boost_py" "$links/libboost_python.so"
ln -s "$libdir/hdf5/serial/libhdf5.so" "$links/libhdf5.so"
ln -s "$libdir/hdf5/serial/libhdf5_hl.so" "$links/libhdf5_hl.so"

# ---- 5. configure and build the pycaffe target --------------------------------------------------------------
say "configuring ($py_ver at $py_base, numpy headers $numpy_inc)"
cmake -S "$src" -B "$build" -Wno-dev \
    -DCMAKE_BUILD_TYPE=Release \
    -DANACONDA_HOME="$py_base" -DPYTHON_VERSION="$py_ver" \
    -DCMAKE_CXX_FLAGS="-I$numpy_inc -I/usr/include/hdf5/serial" \
    -DCMAKE_SHARED_LINKER_FLAGS="-L$links" >"$home/cmake-configure.log" 2>&1 \
    || die "cmake configure failed; see $home/cmake-configure.log"
say "building pycaffe with $jobs jobs (4 to 9 minutes on 2 cores; log: $home/cmake-build.log)"
cmake --build "$build" --target pycaffe -j"$jobs" >"$home/cmake-build.log" 2>&1 \
    || { tail -n 40 "$home/cmake-build.log" >&2
         die "build failed; see $home/cmake-build.log (after a killed build, rm -rf $build and rerun)"; }

# ---- 6. smoke test: import, build a net, run it -------------------------------------------------------------
say "smoke test"
GLOG_minloglevel=2 PYTHONPATH=$src/python "$venv/bin/python" - <<'EOF'
import tempfile, pathlib
import numpy as np
import caffe
caffe.set_mode_cpu()
proto = """
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 1 dim: 3 dim: 3 } } }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
"""
with tempfile.TemporaryDirectory() as tmp:
    path = pathlib.Path(tmp, "smoke.prototxt")
    path.write_text(proto)
    net = caffe.Net(str(path), caffe.TEST)
x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3)
net.blobs["data"].data[...] = x
out = net.forward()["pool"]
# ceil-mode pooling: a 3x3 input gives a 2x2 output whose last window is clipped.
assert out.shape == (1, 1, 2, 2), out.shape
assert out.ravel().tolist() == [4.0, 5.0, 7.0, 8.0], out.ravel().tolist()
EOF

took=$(($(date +%s) - start))
{
    echo "recipe=$recipe"
    echo "package=$pkg==$version"
    echo "python=$venv/bin/python"
    echo "pythonpath=$src/python"
    echo "build_seconds=$took"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} >"$stamp.tmp"
mv "$stamp.tmp" "$stamp"
say "Caffe is built in ${took}s: $home (python $venv/bin/python, PYTHONPATH $src/python)"
