#!/usr/bin/env bash
# Pack what tests/gpu/run_checks.sh needs beside torch, for a CUDA machine with torch but without the
# OpenMMLab packages and without network (as the lent GPU machines here: Python 3.12, torch 2.11).
#   bash tests/gpu/pack_site.sh [DIR]      (default .devpkgs; run here, in a checkout with .venv built)
# On the GPU machine, with DIR carried along:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site DIR/whl/*.whl
#   cp -r DIR/py/* /tmp/site/ && cp DIR/mmcv_ext_stub.py /tmp/site/mmcv/_ext.py
#   PYTHONPATH=/tmp/site bash tests/gpu/run_checks.sh $OUT
# mmcv travels as its Python code only, its compiled ops replaced by a stub that raises if called:
# building them with CUDA takes far longer than a lease, and the Swin backbone uses none of them.
set -euo pipefail
dir=${1:-.devpkgs}
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf "$dir" && mkdir -p "$dir/whl" "$dir/py"
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$dir/whl" mmengine==0.10.7 pycocotools==2.0.11 shapely==2.2.0 addict==2.4.0 \
    termcolor==3.3.0 terminaltables==3.1.10 yapf==0.43.0 platformdirs==4.14.8
(cd "$site" && tar cf - --exclude='__pycache__' --exclude='*.so' --exclude='.mim' mmdet mmcv) \
    | tar xf - -C "$dir/py"
cat > "$dir/mmcv_ext_stub.py" <<'PY'
"""Stand-in for mmcv's compiled ops, which this machine lacks: the Swin backbone uses none."""


def __getattr__(name):
    def missing(*args, **kwargs):
        raise NotImplementedError(f'mmcv op {name} is not compiled here')
    return missing
PY
du -sh "$dir"
