"""``bpmult plan``: what a profile costs before anything is downloaded or trained.

For every training stage of the pipeline (``dvc.yaml``'s ``runs``: dataset × variant × modalities)
the model is built exactly as training builds it (:func:`bpmult.experiment.spec.from_resolved` under the
profile and its definition) for the input shapes of the real data, on ``torch.device("meta")``:
shapes and dtypes, no weights, no compute. One forward + loss + backward at the profile's batch is
then counted (:mod:`bpmult.plan_count`). A text encoder inside the model (``text_features:
token_ids``) is built from its config (:data:`bpmult.plan_facts.BERT_CONFIGS`), never downloaded.

Memory at the batch = activations saved for backward + weights + gradients + Adam's two moments
(fp32); under bf16 (``train.amp``: autocast) the activations are counted on a bf16 copy of the
model and autocast's bf16 copy of the weights is added. Not counted: CUDA context, workspaces,
fragmentation and the transient tensors of backward, hence the headroom of ``FIT_SHARE``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from bpmult.data.config import DataConfig
from bpmult.experiment.params import PROFILE_SECTION_KEYS, profile_names, resolve
from bpmult.experiment.spec import from_resolved
from bpmult.paramsfile import load_params
from bpmult.plan_count import count_step, parameter_bytes, parameter_counts
from bpmult.plan_facts import DEFAULT_GPU, EXPECTED_EPOCHS, FIT_SHARE, GIB, GPUS, UTILISATION, GPU
from bpmult.plan_meta import build_on, example_batch, training_step
from bpmult.plan_shapes import data_shape, prepared_bytes

GB = 1e9
FORMATS = ("md", "json")



@dataclass(frozen=True)
class Stage:
    """One ``train@KEY`` stage of the pipeline."""

    key: str
    dataset: str
    variant: str
    modalities: str


def pipeline_stages(dvc_path: str | Path, datasets: list[str]) -> list[Stage]:
    """The train stages ``dvc.yaml`` enumerates (its ``vars: runs``) for the profile's datasets."""
    path = Path(dvc_path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; run bpmult plan in the repository root or pass --dvc") from None
    runs = next((entry["runs"] for entry in document.get("vars", []) if isinstance(entry, dict) and "runs" in entry), None)
    if not isinstance(runs, dict):
        raise ValueError(f"{path}: 'vars' has no 'runs' mapping of train stages")
    return [Stage(key, r["dataset"], r["variant"], r["modalities"]) for key, r in runs.items() if r["dataset"] in datasets]


@dataclass(frozen=True)
class StageCost:
    """What one stage costs; bytes and FLOPs are exact counts, hours and fits are estimates."""

    stage: str
    dataset: str
    variant: str
    modalities: str
    parameters: int
    trainable: int
    flops_per_sample: int           # forward + backward
    forward_flops_per_sample: int
    batch_size: int
    activations_fp32: int            # bytes saved for backward at the batch
    activations_bf16: int
    memory_fp32: int                 # + weights, gradients, Adam state
    memory_bf16: int
    best_bytes: int                  # best.pt: the weights
    checkpoint_bytes: int            # checkpoint.pt: weights + Adam state (while a seed trains)
    precision: str                   # what training uses: bf16 (train.amp) or fp32
    train_samples: int
    dev_samples: int
    seeds: int
    max_epochs: int
    expected_epochs: int
    gpu_hours_expected: float
    gpu_hours_bound: float
    fits: bool
    kept_seeds: int                  # seeds that keep best.pt (the profile's keep_weights)
    disk_bytes: int                  # best weights × kept seeds


def expected_epochs(train) -> int:
    """Epochs a run is expected to train (see :data:`bpmult.plan_facts.EXPECTED_EPOCHS`)."""
    return train.max_epochs if train.patience >= train.max_epochs else min(EXPECTED_EPOCHS, train.max_epochs)


def stage_cost(stage: Stage, params: dict[str, Any], profile: str, data: DataConfig, gpu: GPU, *,
               utilisation: float = UTILISATION, overrides: tuple[str, ...] = ()) -> StageCost:
    """Build ``stage``'s model on meta at the real data's shapes and count one training step."""
    shape = data_shape(stage.dataset, data)
    resolved = resolve(params, stage.dataset, stage.variant, profile=profile, overrides=overrides)
    exp = from_resolved(Path(""), shape.manifest, stage.dataset, stage.variant, resolved, modalities=stage.modalities)
    train, batch_size, task = exp.train, exp.train.batch_size, shape.manifest["task"]
    model = build_on(exp.model, "meta")
    total, trainable = parameter_counts(model)
    weight_bytes, trainable_bytes = parameter_bytes(model)
    fp32 = count_step(model, training_step(model, example_batch(shape.manifest, batch_size, "meta"), task))
    model.zero_grad(set_to_none=True)
    model16 = model.to(torch.bfloat16)  # in place: the same module tree, bf16 weights (meta: free)
    bf16 = count_step(model16, training_step(model16, example_batch(shape.manifest, batch_size, "meta", torch.bfloat16),
                                             task), flops=False)
    flops, forward_flops = fp32.flops // batch_size, fp32.forward_flops // batch_size
    acts32, acts16 = fp32.saved_bytes, bf16.saved_bytes
    states = weight_bytes + trainable_bytes + 2 * trainable_bytes   # weights, gradients, Adam exp_avg + exp_avg_sq
    memory32 = states + acts32
    memory16 = states + acts16 + trainable_bytes // 2              # + autocast's bf16 copy of the weights
    precision = "bf16" if train.amp else "fp32"
    peak = (gpu.bf16 if train.amp else gpu.fp32) * 1e12 * utilisation
    n_train, n_dev = shape.splits["train"] or 0, shape.splits["dev"] or 0
    epoch_flops = n_train * flops + n_dev * forward_flops
    seeds = len(exp.seeds)
    kept = 1 if exp.keep_weights == "best_seed" else seeds  # seeds that keep best.pt (bpmult.train.retention)
    hours = lambda epochs: epoch_flops * epochs * seeds / peak / 3600  # noqa: E731
    epochs = expected_epochs(train)
    return StageCost(
        stage=stage.key, dataset=stage.dataset, variant=stage.variant, modalities=exp.modalities, parameters=total,
        trainable=trainable, flops_per_sample=flops, forward_flops_per_sample=forward_flops, batch_size=batch_size,
        activations_fp32=acts32, activations_bf16=acts16, memory_fp32=memory32, memory_bf16=memory16,
        best_bytes=weight_bytes, checkpoint_bytes=weight_bytes + 2 * trainable_bytes, precision=precision,
        train_samples=n_train, dev_samples=n_dev, seeds=seeds, max_epochs=train.max_epochs, expected_epochs=epochs,
        gpu_hours_expected=hours(epochs), gpu_hours_bound=hours(train.max_epochs),
        fits=(memory16 if train.amp else memory32) <= FIT_SHARE * gpu.memory_gib * GIB,
        kept_seeds=kept, disk_bytes=weight_bytes * kept)


def split_settings(params: dict[str, Any], profile: str, settings: tuple[str, ...]) -> tuple[DataConfig, tuple[str, ...]]:
    """The profile's :class:`DataConfig` with the ``data.KEY=VALUE`` settings applied, and the
    other settings (``train.``/``model.``/``seeds``) for :func:`bpmult.experiment.resolve`."""
    data_settings = [s.removeprefix("data.") for s in settings if s.startswith("data.")]
    base = DataConfig.from_mapping(params[profile].get("data") or {}, f"{profile}.data")
    return base.with_overrides(data_settings), tuple(s for s in settings if not s.startswith("data."))


def _stage_or_error(work: tuple) -> StageCost | dict[str, str]:
    stage, params, profile, data, gpu, utilisation, overrides = work
    torch.set_num_threads(1)  # meta tensors compute nothing; threads would only compete
    try:
        return stage_cost(stage, params, profile, data, gpu, utilisation=utilisation, overrides=overrides)
    except ValueError as err:  # the same one-line error training would give for this stage
        return {"stage": stage.key, "error": str(err)}


# ---------------------------------------------------------------------------------------------
# the whole profile


def plan_profile(*, profile: str, gpu_name: str = DEFAULT_GPU, params_path: str | Path | None = None,
                 dvc_path: str | Path = "dvc.yaml", settings: tuple[str, ...] = (),
                 utilisation: float = UTILISATION, jobs: int = 1) -> dict[str, Any]:
    """Every stage's cost and the profile's totals (a JSON-ready dict).

    A stage whose model cannot be built under the profile (a setting the pipeline would reject
    too) is listed under ``errors`` with the one-line reason, not counted.

    Args:
        settings: ``data.<DataConfig field>=value`` (a data setting) or ``train.``/``model.``/``seeds``
            overrides as ``bpmult train --set`` takes them.
        jobs: stages counted in parallel processes (meta counting is single-threaded Python dispatch).

    Raises:
        ValueError: unknown profile, GPU or setting (one line).
    """
    if gpu_name not in GPUS:
        raise ValueError(f"--gpu {gpu_name!r}: unknown GPU; expected one of {', '.join(GPUS)}")
    if not 0 < utilisation <= 1:
        raise ValueError(f"--utilisation {utilisation}: expected a share in (0, 1]")
    gpu = GPUS[gpu_name]
    params = load_params(params_path)
    if profile not in profile_names(params):
        raise ValueError(f"params: unknown profile {profile!r}; valid: {profile_names(params)}")
    data, overrides = split_settings(params, profile, settings)
    datasets = [k for k in params[profile] if k not in PROFILE_SECTION_KEYS]
    stages = pipeline_stages(dvc_path, datasets)
    work = [(s, params, profile, data, gpu, utilisation, overrides) for s in stages]
    if jobs > 1 and len(work) > 1:
        context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        with ProcessPoolExecutor(max_workers=min(jobs, len(work)), mp_context=context) as pool:
            results = list(pool.map(_stage_or_error, work))
    else:
        results = [_stage_or_error(w) for w in work]
    rows = [r for r in results if isinstance(r, StageCost)]
    errors = [r for r in results if not isinstance(r, StageCost)]
    shapes = {d: data_shape(d, data) for d in dict.fromkeys(s.dataset for s in stages)}
    data_bytes = {d: prepared_bytes(s) for d, s in shapes.items()}
    weights = sum(r.disk_bytes for r in rows)
    # while a stage trains: its live checkpoint, and the best.pt of seeds not yet pruned (best_seed)
    live = max((r.checkpoint_bytes + (r.seeds - r.kept_seeds) * r.best_bytes for r in rows), default=0)
    known = sum(b for b in data_bytes.values() if b is not None)
    return {
        "profile": profile, "definition": params[profile].get("definition"), "gpu": asdict(gpu),
        "utilisation": utilisation, "fit_share": FIT_SHARE, "settings": list(settings),
        "torch": torch.__version__, "data_config": data.to_dict(),
        "stages": [asdict(r) for r in rows],
        "errors": errors,
        "notes": sorted({n for s in shapes.values() for n in s.notes}),
        "totals": {
            "stages": len(rows), "stages_not_built": len(errors),
            "gpu_hours_expected": sum(r.gpu_hours_expected for r in rows),
            "gpu_hours_bound": sum(r.gpu_hours_bound for r in rows),
            "best_weights_bytes": weights, "live_checkpoint_bytes": live,
            "prepared_data_bytes": data_bytes,
            # raw files hold the same float32 arrays (pickles, HDF5) and are linked, not copied
            "data_bytes_raw_plus_prepared": 2 * known,
            "disk_bytes": weights + live + 2 * known,
        },
    }


# ---------------------------------------------------------------------------------------------
# output


def _gb(n: int | None) -> str:
    return "?" if n is None else f"{n / GB:.2f}"


def _hours(h: float) -> str:
    return f"{h:,.1f}" if h >= 1 else f"{h:.2f}"


def header(plan: dict[str, Any]) -> str:
    gpu = plan["gpu"]
    return "\n".join([
        f"# bpmult plan: profile {plan['profile']} (definition {plan['definition'] or 'defaults'}), "
        f"GPU {gpu['name']} ({gpu['memory_gib']:g} GB; dense TFLOP/s fp32 {gpu['fp32']:g}, bf16 {gpu['bf16']:g}: "
        f"{gpu['source']}), torch {plan['torch']}" + (f", settings {' '.join(plan['settings'])}" if plan["settings"] else ""),
        "",
        "Method: each stage's model is built as training builds it, on torch.device('meta') (no weights), for "
        "the real data's shapes; one forward + loss + backward at the profile's batch is counted. FLOPs: "
        "torch.utils.flop_counter.FlopCounterMode (matmuls, convolutions, attention; elementwise work not "
        "counted). Activations: tensors saved for backward (saved_tensors_hooks), once per storage, with "
        "attention on SDPA's math path as on CPU (the attention weights are saved; CUDA's fused kernels keep "
        "less, so this is an upper bound there); bf16 = the same on a bf16 copy of the model. Memory = "
        "activations + fp32 weights + gradients + Adam's two moments (+ autocast's bf16 weight copy for bf16); "
        f"'fits' = the training precision's memory <= {plan['fit_share']:.0%} of the GPU's.",
        f"GPU-hours = FLOPs/sample x (train samples x fwd+bwd + dev samples x fwd) x epochs x seeds / "
        f"(peak of the training precision x {plan['utilisation']:.0%} utilisation, assumed). Epochs: the bound "
        f"is max_epochs; expected = max_epochs without early stopping (patience >= max_epochs), else "
        f"min({EXPECTED_EPOCHS}, max_epochs) (an assumption: early stopping ends these runs well before 100).",
        *(f"Note: {n}" for n in plan["notes"]),
    ])


def markdown(plan: dict[str, Any]) -> str:
    """The header, one table row per stage, and the profile's totals."""
    cols = ("stage", "params M (trainable)", "GFLOP/sample fwd+bwd", "batch", "act. GB fp32 / bf16",
            "memory GB fp32 / bf16", "fits", "best.pt GB", "checkpoint.pt GB", "train precision",
            "GPU-h expected (bound)", "weights kept GB")
    lines = [header(plan), "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in plan["stages"]:
        lines.append("| " + " | ".join([
            r["stage"], f"{r['parameters'] / 1e6:.1f} ({r['trainable'] / 1e6:.1f})", f"{r['flops_per_sample'] / 1e9:.1f}",
            str(r["batch_size"]), f"{_gb(r['activations_fp32'])} / {_gb(r['activations_bf16'])}",
            f"{_gb(r['memory_fp32'])} / {_gb(r['memory_bf16'])}", "yes" if r["fits"] else "**no**",
            _gb(r["best_bytes"]), _gb(r["checkpoint_bytes"]), r["precision"],
            f"{_hours(r['gpu_hours_expected'])} ({_hours(r['gpu_hours_bound'])})",
            f"{_gb(r['disk_bytes'])} ({r['kept_seeds']} of {r['seeds']} seeds)"]) + " |")
    for e in plan["errors"]:
        lines.append(f"| {e['stage']} | cannot be built: {e['error']} |" + " |" * (len(cols) - 2))
    t = plan["totals"]
    data = ", ".join(f"{d} {_gb(b)}" for d, b in t["prepared_data_bytes"].items())
    lines += ["", f"Totals ({t['stages']} stages counted"
              + (f", {t['stages_not_built']} not built" if t['stages_not_built'] else "") + "): "
              f"GPU-hours expected {_hours(t['gpu_hours_expected'])}, bound "
              f"{_hours(t['gpu_hours_bound'])} on {plan['gpu']['name']}. Disk: best weights kept "
              f"{_gb(t['best_weights_bytes'])} GB + the largest stage while it trains (live checkpoint.pt and "
              f"best.pt of seeds not yet pruned) {_gb(t['live_checkpoint_bytes'])} GB + "
              f"data {_gb(t['data_bytes_raw_plus_prepared'])} GB (prepared, GB: {data}; raw about the same again) "
              f"= {_gb(t['disk_bytes'])} GB."]
    return "\n".join(lines) + "\n"


def run_plan(args: argparse.Namespace) -> int:
    plan = plan_profile(profile=args.profile, gpu_name=args.gpu, params_path=args.params, dvc_path=args.dvc,
                        settings=tuple(args.set), utilisation=args.utilisation, jobs=args.jobs)
    print(json.dumps(plan, indent=1) if args.format == "json" else markdown(plan), end="" if args.format == "md" else "\n")
    return 0


def add_commands(subparsers) -> None:
    """Register ``plan``."""
    p = subparsers.add_parser("plan", help="parameters, FLOPs, memory, GPU-hours and disk of every stage of a profile",
                              description=__doc__.splitlines()[0])
    p.add_argument("--profile", required=True, help="a profile of params.yaml (embedded, smoke, paper)")
    p.add_argument("--gpu", default=DEFAULT_GPU, help=f"one of {', '.join(GPUS)} (default {DEFAULT_GPU})")
    p.add_argument("--format", choices=FORMATS, default="md", help="md: header and table (default); json")
    p.add_argument("-S", "--set", action="append", default=[], metavar="KEY=VALUE",
                   help="data.<setting>=V (e.g. data.mmimdb_bow_vocab=10000), train.<field>=V, model.<field>=V, seeds=V")
    p.add_argument("--utilisation", type=float, default=UTILISATION, help=f"share of peak reached (default {UTILISATION})")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="stages counted in parallel processes (default: the CPU count)")
    p.add_argument("--params", default=None, help="params file (default: the package's params.yaml)")
    p.add_argument("--dvc", default="dvc.yaml", help="the pipeline whose train stages are planned (default dvc.yaml)")
    p.set_defaults(func=run_plan)
