"""Whether forward hooks watch some modules: a computation that replaces those modules' calls by
batched or fused steps (:mod:`bpmult.nn.encoder_group`, :mod:`bpmult.nn.fused_feed_forward`) must
not run where a hook expects them to be called."""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn
from torch.nn.modules import module as module_state


def forward_hooked(modules: Iterable[nn.Module]) -> bool:
    """True when a global forward (pre-)hook is set, or one on any of ``modules``."""
    if module_state._global_forward_hooks or module_state._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)
