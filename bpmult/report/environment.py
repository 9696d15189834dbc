"""The machine that built the report: versions and device, for the report's closing section."""

from __future__ import annotations

import html
import platform

import bpmult


def environment() -> dict[str, str]:
    """Versions and device of this machine (for the report's closing section)."""
    import numpy
    import sklearn
    import torch

    cpu = f"CPU ({platform.processor() or platform.machine()})"
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else cpu
    return {"python": platform.python_version(), "platform": platform.platform(), "torch": torch.__version__,
            "numpy": numpy.__version__, "scikit-learn": sklearn.__version__, "bpmult": bpmult.__version__,
            "device": device, "cpu threads": str(torch.get_num_threads())}


def environment_html() -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                   for k, v in environment().items())
    return f"<table><tbody><tr><th>item</th><th>value</th></tr>{rows}</tbody></table>"
