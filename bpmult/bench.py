"""``bpmult bench``: time one training step (forward + backward + Adam) of models at named shapes.

Shape legend: ``B`` batch, ``L/A/V`` text/audio/video lengths, ``d`` width.

A step is what :func:`bpmult.train.train_one_epoch` does per batch: ``zero_grad(set_to_none=True)``,
forward, a loss, backward, ``Adam.step()`` (the trainer's Adam, :func:`bpmult.train.engine.make_adam`:
fused on CPU and CUDA, unless ``--adam`` says otherwise; ``loop`` is the per-tensor loop official
MuLT's plain ``torch.optim.Adam`` runs on CPU). On CPU the time is CPU time (``time.process_time``: robust to other
processes sharing the machine) at one thread by default; on CUDA it is wall time between
synchronisations, with the peak memory. Medians over ``--steps`` timed steps after ``--warmup``.

The ``small`` and ``long`` shapes are the anchors of issue 12 (official MuLT sizes: d 30, 4 layers,
5 heads, input widths 300/74/35, official dropouts); the others are the paper profile's datasets at
the authors' sizes and batch (:mod:`bpmult.models.presets`, ``spec/reproduction.md`` §4). On the
``meta`` device nothing is computed: the step checks that a shape builds and runs, and its time is
the dispatch (Python and framework) overhead alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from bpmult.atomic import atomic_write
from bpmult.models.presets import dataset_config
from bpmult.models.registry import variant_config
from bpmult.models.registry import build_model, count_parameters
from bpmult.train.engine import make_adam
from bpmult.train.runtime import keep_freed_cpu_memory
from bpmult.bench_profile import attention_backends, format_backends, format_profile, profile_step
from bpmult.models.registry import VARIANTS


@dataclass(frozen=True, kw_only=True)
class BenchShape:
    """One benchmark shape: the batch, the sequence lengths and the model sizes.

    Attributes:
        description: one line for the table.
        batch: B.
        lengths: ``{"text": L, "audio": A, "video": V}`` as the batch gives them (audio: raw frames
            when the preset has the audio encoder).
        dataset: a :data:`bpmult.models.presets.DATASET_PRESETS` name, or None for ``overrides`` only.
        overrides: :class:`ModelConfig` fields on top of the preset (sizes, widths, head).
    """

    description: str
    batch: int
    lengths: dict[str, int]
    dataset: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


# official MuLT's sizes in issue 12's anchors (its IEMOCAP-like 8 logits = 4 emotions x 2)
_ANCHOR = dict(orig_d_text=300, orig_d_audio=74, orig_d_video=35, d_model=30, num_heads=5, layers=4,
               n_classes=4, head="iemocap")

SHAPES: dict[str, BenchShape] = {
    "tiny": BenchShape(description="smoke test: B 3, L/A/V 7/5/4, d 8, 1 layer", batch=3,
                       lengths=dict(text=7, audio=5, video=4),
                       overrides=dict(_ANCHOR, d_model=8, num_heads=2, layers=1)),
    "small": BenchShape(description="issue-12 anchor: B 24, L/A/V 20/20/20, d 30", batch=24,
                        lengths=dict(text=20, audio=20, video=20), overrides=_ANCHOR),
    "long": BenchShape(description="issue-12 anchor: B 16, L/A/V 50/375/500, d 30", batch=16,
                       lengths=dict(text=50, audio=375, video=500), overrides=_ANCHOR),
    "moviescope": BenchShape(description="paper: B 8, BERT 512x768, VGG 200x4096, mel 400x96 + poster, d 768",
                             batch=8, lengths=dict(text=512, audio=400, video=200), dataset="moviescope"),
    "mmimdb": BenchShape(description="paper: B 6, BERT 512x768, GloVe 512x300, BoW 512x1 + poster, d 768",
                         batch=6, lengths=dict(text=512, audio=512, video=512), dataset="mmimdb"),
    "iemocap": BenchShape(description="paper: B 8, L/A/V 20/20/20, d 300, 12 heads, 8 layers",
                          batch=8, lengths=dict(text=20, audio=20, video=20), dataset="iemocap"),
    "mosei": BenchShape(description="paper: B 8, L/A/V 512/512/512, d 300, 12 heads, 8 layers",
                        batch=8, lengths=dict(text=512, audio=512, video=512), dataset="mosei"),
}
DEFAULT_SHAPES = ("small",)
DEFAULT_MODELS = ("mult", "bpmult")
ADAM_MODES = ("trainer", "loop", "foreach", "fused")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def shape_config(shape: BenchShape, variant: str):
    """The :class:`ModelConfig` of ``variant`` at ``shape`` (lengths set from the shape)."""

    lengths = {f"len_{m}": n for m, n in shape.lengths.items()}
    if shape.dataset is None:
        return variant_config(variant, **shape.overrides, **lengths)
    return dataset_config(variant, shape.dataset, **shape.overrides, **lengths)


def make_batch(cfg, shape: BenchShape, *, device: torch.device, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of ``shape`` for ``cfg`` (widths from the config), and ``label`` multi-hot targets."""
    gen = torch.Generator().manual_seed(seed)
    B = shape.batch
    batch = {m: torch.randn(B, shape.lengths[m], w, generator=gen) for m, w in cfg.orig_dims.items()}
    batch.update({name: torch.randn(B, w, generator=gen) for name, w in cfg.extras})
    batch["label"] = torch.randint(0, 2, (B, cfg.n_outputs), generator=gen).float()
    return {k: v.to(device) for k, v in batch.items()}


def make_optimizer(model: torch.nn.Module, mode: str, device: torch.device) -> torch.optim.Optimizer:
    """Adam as the trainer builds it (``trainer``), or its per-tensor loop / multi-tensor / fused
    implementation."""
    if mode == "trainer":
        return make_adam(model.parameters(), lr=1e-4, device=device)
    kwargs = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[mode]
    return torch.optim.Adam(model.parameters(), lr=1e-4, **kwargs)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stepper:
    """A model, its Adam and one fixed batch; :meth:`step` runs one training step.

    Args:
        variant: a model variant name.
        shape: the benchmark shape.
        device: where to run (``cpu``, ``cuda``, ``meta``).
        dtype: ``float32``, or ``bfloat16`` under autocast.
        adam: one of :data:`ADAM_MODES`.
        seed: seeds the weights, the batch and the dropout.
    """

    def __init__(self, variant: str, shape: BenchShape, *, device: torch.device, dtype: str = "float32",
                 adam: str = "trainer", seed: int = 0) -> None:
    
        self.cfg = shape_config(shape, variant)
        self.device = device
        self.dtype = DTYPES[dtype]
        torch.manual_seed(seed)
        with torch.device(device):
            self.model = build_model(self.cfg)
        self.model.train()
        self.parameters = count_parameters(self.model)
        self.optimizer = make_optimizer(self.model, adam, device)
        self.batch = make_batch(self.cfg, shape, device=device, seed=seed)

    def step(self) -> torch.Tensor:
        """One ``zero_grad`` + forward + loss + backward + ``Adam.step``; returns the loss (detached)."""
        self.optimizer.zero_grad(set_to_none=True)
        use_autocast = self.dtype != torch.float32 and self.device.type in ("cpu", "cuda")
        with torch.autocast(self.device.type, dtype=self.dtype) if use_autocast else contextlib.nullcontext():
            logits = self.model(self.batch)
        loss = F.binary_cross_entropy_with_logits(logits.float(), self.batch["label"])
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def time_steps(stepper: Stepper, *, steps: int, warmup: int) -> dict[str, list[float]]:
    """CPU and wall seconds of each of ``steps`` steps after ``warmup`` untimed ones."""
    cpu, wall = [], []
    for i in range(warmup + steps):
        _sync(stepper.device)
        c0, w0 = time.process_time(), time.perf_counter()
        stepper.step()
        _sync(stepper.device)
        if i >= warmup:
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
    return {"cpu_s": cpu, "wall_s": wall}


def bench_one(variant: str, shape_name: str, *, device: torch.device, dtype: str, adam: str,
              steps: int, warmup: int) -> dict[str, Any]:
    """Build, time and summarise ``variant`` at ``shape_name``."""
    shape = SHAPES[shape_name]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    stepper = Stepper(variant, shape, device=device, dtype=dtype, adam=adam)
    times = time_steps(stepper, steps=steps, warmup=warmup)
    # CPU time on CPU (other processes do not inflate it); wall time where the work is on a device
    key = "cpu_s" if device.type == "cpu" else "wall_s"
    median = statistics.median(times[key])
    row = {
        "shape": shape_name, "model": variant, "device": str(device), "dtype": dtype, "adam": adam,
        "threads": torch.get_num_threads(), "batch": shape.batch, "parameters": stepper.parameters,
        "timer": "process_time" if key == "cpu_s" else "perf_counter",
        "median_s": median, "min_s": min(times[key]), "max_s": max(times[key]),
        "median_wall_s": statistics.median(times["wall_s"]), **times,
        "samples_per_s": shape.batch / statistics.median(times["wall_s"]),
    }
    if device.type == "cuda":
        row["peak_memory_bytes"] = torch.cuda.max_memory_allocated(device)
    return row


def ratios(rows: list[dict[str, Any]], *, numerator: str = "bpmult", denominator: str = "mult") -> dict[str, float]:
    """``{shape: median(numerator) / median(denominator)}`` for shapes that timed both."""
    medians = {(r["shape"], r["model"]): r["median_s"] for r in rows}
    return {
        shape: medians[(shape, numerator)] / medians[(shape, denominator)]
        for shape, model in medians if model == denominator and (shape, numerator) in medians
    }


def determinism(variant: str, shape_name: str, *, device: torch.device, dtype: str, adam: str,
                steps: int = 2) -> dict[str, Any]:
    """Two replicas seeded alike take ``steps`` steps each; their losses must be identical."""
    losses = []
    for _ in range(2):
        stepper = Stepper(variant, shape_name_to_shape(shape_name), device=device, dtype=dtype, adam=adam)
        torch.manual_seed(1)  # the dropout stream, alike for both replicas
        if device.type == "cuda":
            torch.cuda.manual_seed_all(1)
        losses.append([float(stepper.step()) for _ in range(steps)])
    return {"shape": shape_name, "model": variant, "dtype": dtype, "losses": losses,
            "identical": losses[0] == losses[1],
            "max_abs_diff": max(abs(a - b) for a, b in zip(*losses))}


def shape_name_to_shape(name: str) -> BenchShape:
    """``SHAPES[name]``, with the known names in the error."""
    if name not in SHAPES:
        raise ValueError(f"bench --shapes: unknown shape {name!r}; known: {', '.join(SHAPES)}")
    return SHAPES[name]


def format_table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table, then the ``bpmult/mult`` ratios."""
    lines = ["| shape | model | device | dtype | params | median | min | samples/s | peak memory |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peak = f"{r['peak_memory_bytes'] / 2**20:.0f} MiB" if "peak_memory_bytes" in r else "-"
        lines.append(f"| {r['shape']} | {r['model']} | {r['device']} | {r['dtype']} | {r['parameters']:,} | "
                     f"{r['median_s'] * 1e3:.1f} ms | {r['min_s'] * 1e3:.1f} ms | {r['samples_per_s']:.1f} | {peak} |")
    for shape, ratio in ratios(rows).items():
        lines.append(f"bpmult/mult at {shape}: {ratio:.2f}")
    return "\n".join(lines)


def _csv(kind: str, known):
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(s for s in text.split(",") if s)
        bad = [s for s in items if known is not None and s not in known]
        if not items or bad:
            raise argparse.ArgumentTypeError(f"unknown {kind} {bad or text!r}; known: {', '.join(known)}")
        return items
    return parse


def run_bench(args: argparse.Namespace) -> int:
    """The ``bpmult bench`` command."""

    for model in args.models:
        if model not in VARIANTS:
            raise ValueError(f"bench --models: unknown model {model!r}; known: {', '.join(VARIANTS)}")
    if args.threads < 1:
        raise ValueError(f"bench: --threads must be >= 1, got {args.threads}")
    if args.steps < 1 or args.warmup < 0:
        raise ValueError(f"bench: --steps must be >= 1 and --warmup >= 0, got {args.steps} and {args.warmup}")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("bench --device cuda: cuda not available on this machine")
    torch.set_num_threads(args.threads)
    if device.type == "cpu":  # as the trainer does
        keep_freed_cpu_memory()
    rows, profiles, checks = [], [], []
    for shape in args.shapes:
        for model in args.models:
            rows.append(bench_one(model, shape, device=device, dtype=args.dtype, adam=args.adam,
                                  steps=args.steps, warmup=args.warmup))
            print(f"{shape} {model}: median {rows[-1]['median_s'] * 1e3:.1f} ms ({rows[-1]['timer']})", flush=True)
            if args.profile and device.type != "meta":
                profiles.append(profile_step(Stepper(model, SHAPES[shape], device=device, dtype=args.dtype,
                                                     adam=args.adam), shape=shape, model=model))
            if args.determinism and device.type != "meta":
                checks.append(determinism(model, shape, device=device, dtype=args.dtype, adam=args.adam))
    backends = attention_backends(dtype=DTYPES[args.dtype])
    print(format_table(rows))
    for p in profiles:
        print(format_profile(p))
    for c in checks:
        print(f"determinism {c['shape']} {c['model']} {c['dtype']}: identical={c['identical']} "
              f"max|dloss|={c['max_abs_diff']:.3g}")
    print(format_backends(backends))
    if args.json:
        result = {"rows": rows, "ratios_bpmult_over_mult": ratios(rows), "profiles": profiles,
                  "determinism": checks, "attention_backends": backends,
                  "torch": torch.__version__, "settings": {k: v for k, v in vars(args).items() if k != "func"}}
        payload = json.dumps(result, indent=1, default=str).encode()
        atomic_write(args.json, lambda handle: handle.write(payload))
    return 0


def add_commands(subparsers) -> None:
    """Register ``bench``."""
    p = subparsers.add_parser("bench", help="time forward+backward+Adam of models at benchmark shapes",
                              description=__doc__.splitlines()[0])
    p.add_argument("--shapes", type=_csv("shape", SHAPES), default=DEFAULT_SHAPES,
                   help=f"comma-separated, of {', '.join(SHAPES)} (default: {','.join(DEFAULT_SHAPES)})")
    p.add_argument("--models", type=_csv("model", None), default=DEFAULT_MODELS,
                   help="comma-separated model variants (default: mult,bpmult)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per model and shape (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or meta (builds and runs, no compute)")
    p.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="bfloat16: under autocast")
    p.add_argument("--adam", choices=ADAM_MODES, default="trainer",
                   help="trainer: the trainer's Adam (fused on CPU/CUDA); loop (official MuLT's plain Adam on CPU), foreach, fused")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    p.add_argument("--profile", action="store_true", help="one profiled step: time by op category")
    p.add_argument("--determinism", action="store_true", help="two seeded replicas: identical losses?")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.set_defaults(func=run_bench)
