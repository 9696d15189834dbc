"""Model diagrams generated from the code: trace one forward pass and list what runs, in order.

For each shown variant the report prints the modules the forward pass calls (two levels deep), in
call order, with their parameter counts and output shapes, and the inputs of the final GMU. The
caller (the stage layer) builds the models exactly as training does, at the dimensions of the
prepared Moviescope data and the active profile, so the diagram is the model that was trained;
this module never wires a model itself.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import torch

from bpmult.report.names import model_name

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


def diagrams_html(models: Mapping[str, tuple[torch.nn.Module, dict[str, torch.Tensor]]]) -> str:
    """HTML tables of the traced call order of each model.

    Args:
        models: variant name -> (the built model, an example batch for it), in display order; empty
            when there is nothing to draw (the page then says so).
    """
    if not models:
        return "<p>No prepared Moviescope data: no diagram.</p>"
    parts = []
    for variant, (model, batch) in models.items():
        records = trace_calls(model, batch)
        rows = "".join(
            f"<tr><td>{i}</td><td><code>{html.escape(r['module'])}</code></td><td>{r['type']}</td>"
            f"<td>{r['parameters']:,}</td><td>{r['output']}</td></tr>" for i, r in enumerate(records, 1))
        total = sum(p.numel() for p in model.parameters())
        inputs = ", ".join(getattr(model, "final_inputs", []) or ["—"])
        parts.append(
            f"<h3>{html.escape(model_name(variant))} <small>(<code>{html.escape(variant)}</code>)</small> — "
            f"{total:,} parameters; final fusion inputs: {html.escape(inputs)}</h3>"
            f"<details><summary>forward pass, in call order ({len(records)} module calls)</summary>"
            f"<table><thead><tr><th>#</th><th>module</th><th>type</th><th>parameters</th>"
            f"<th>output shape (batch {next(iter(batch.values())).shape[0]})</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>")
    return "".join(parts)
