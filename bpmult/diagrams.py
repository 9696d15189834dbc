"""Model diagrams generated from the code: trace one forward pass and list what runs, in order.

For each shown variant the report prints the modules the forward pass calls (two levels deep), in
call order, with their parameter counts and output shapes, and the inputs of the final GMU. The
model is built at the dimensions of the prepared Moviescope data and the active profile, so the
diagram is the model that was trained.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import torch

SHOWN_VARIANTS = ("bpmult", "mult_gmu", "mult")


def trace_calls(model: torch.nn.Module, batch: dict[str, torch.Tensor], depth: int = 2) -> list[dict[str, Any]]:
    """Run ``model(batch)`` once and record every module call up to ``depth`` levels deep.

    Returns:
        One record per call, in call order: qualified name, class, own parameter count (with
        children) and output shape.
    """
    records: list[dict[str, Any]] = []
    handles = []
    for name, module in model.named_modules():
        if not name or name.count(".") >= depth:
            continue

        def hook(mod, _inputs, output, name=name):
            first = output[0] if isinstance(output, (tuple, list)) else output
            shape = tuple(first.shape) if isinstance(first, torch.Tensor) else None
            records.append({"module": name, "type": type(mod).__name__,
                            "parameters": sum(p.numel() for p in mod.parameters()),
                            "output": shape})

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model.eval()
            model(batch)
    finally:
        for h in handles:
            h.remove()
    return records


def example_batch(manifest: dict[str, Any], batch_size: int = 2) -> dict[str, torch.Tensor]:
    """Random inputs with the per-sample shapes of a prepared dataset's manifest."""
    gen = torch.Generator().manual_seed(0)
    return {name: torch.randn(batch_size, *shape, generator=gen)
            for name, shape in manifest["modalities"].items()}


def model_for(manifest: dict[str, Any], dataset: str, variant: str, params: dict[str, Any],
              profile: str) -> torch.nn.Module:
    """The model a training run of the profile builds for this prepared data (TVAP setting)."""
    from bpmult.experiment import from_manifest

    torch.manual_seed(0)
    return from_manifest(manifest, dataset, variant, params, profile).build_model()


def diagrams_html(prepared: Path, params: dict[str, Any]) -> str:
    """HTML tables of the traced call order of the shown Moviescope variants."""
    from bpmult import pipeline

    manifest_path = Path(prepared) / "moviescope" / "manifest.json"
    if not manifest_path.is_file():
        return "<p>No prepared Moviescope data: no diagram.</p>"
    manifest = json.loads(manifest_path.read_text())
    profile = pipeline.active_profile(params)
    batch = example_batch(manifest)
    parts = []
    for variant in SHOWN_VARIANTS:
        model = model_for(manifest, "moviescope", variant, params, profile)
        records = trace_calls(model, batch)
        rows = "".join(
            f"<tr><td>{i}</td><td><code>{html.escape(r['module'])}</code></td><td>{r['type']}</td>"
            f"<td>{r['parameters']:,}</td><td>{r['output']}</td></tr>" for i, r in enumerate(records, 1))
        total = sum(p.numel() for p in model.parameters())
        inputs = ", ".join(getattr(model, "final_inputs", []) or ["—"])
        parts.append(
            f"<h3><code>{variant}</code> — {total:,} parameters; final fusion inputs: {html.escape(inputs)}</h3>"
            f"<details><summary>forward pass, in call order ({len(records)} module calls)</summary>"
            f"<table><thead><tr><th>#</th><th>module</th><th>type</th><th>parameters</th>"
            f"<th>output shape (batch {next(iter(batch.values())).shape[0]})</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>")
    return "".join(parts)
