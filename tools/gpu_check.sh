#!/usr/bin/env bash
# The CUDA check of issue 12: one paper-size step (Moviescope shape: B 8, BERT 512x768, VGG16
# 200x4096, mel 400x96 + poster, d 768 / 6 heads / 5 layers) of BPMuLT and MuLT in float32 and in
# bfloat16 (autocast), with the SDPA kernel chosen for every MuLT mask regime, throughput
# (samples/s), peak memory and the determinism check (two seeded replicas, two steps each: the
# losses must be identical). Everything goes through `bpmult bench`; results are printed and
# written as JSON, one file per dtype, under the folder given as $1 (default: gpu_check/).
# Then the paper-shapes profile (issue 7: real per-sample sizes, every variant, the whole DVC
# pipeline) through its slow test file, whose train stages take the GPU when there is one; its
# log goes to OUT_DIR/paper_shapes.log (PAPER_SHAPES=0 skips it: ~7-10 min on 2 CPU cores).
#
# usage: tools/gpu_check.sh [OUT_DIR]        (PYTHON=... to pick the interpreter)
set -euo pipefail
out_dir=${1:-gpu_check}
python=${PYTHON:-python}
cd "$(dirname "$0")/.."
if ! "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: cuda not available on this machine" >&2
    exit 1
fi
mkdir -p "$out_dir"
"$python" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'device: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}, cuda {torch.version.cuda}')"
# cuBLAS needs a fixed workspace for bitwise-repeatable GEMMs
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
for dtype in float32 bfloat16; do
    echo "== $dtype"
    "$python" -m bpmult.cli bench --device cuda --shapes moviescope --models bpmult,mult \
        --dtype "$dtype" --steps 5 --warmup 2 --determinism --json "$out_dir/bench_$dtype.json"
done
if [ "${PAPER_SHAPES:-1}" != 0 ]; then
    echo "== paper-shapes profile"
    start=$(date +%s)
    "$python" -m pytest -q -m slow tests/pipeline/test_paper_shapes.py 2>&1 | tee "$out_dir/paper_shapes.log"
    echo "paper-shapes: $(( $(date +%s) - start )) s wall" | tee -a "$out_dir/paper_shapes.log"
fi
echo "gpu_check: results in $out_dir/bench_float32.json and $out_dir/bench_bfloat16.json"
