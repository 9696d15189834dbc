"""The pipeline's stages (``dvc.yaml``), as plain functions the notebooks and commands call.

``paths`` is the only module that knows where DVC keeps things; ``data`` (raw, prepare),
``train`` and ``report`` (tables, figures, index) are the stages; ``notebook`` runs a stage's
notebook with Papermill; ``commands`` holds the ``stage`` and ``report`` verbs. Each module imports
only what its stage needs, so a stage's code dependencies in ``dvc.yaml`` stay exact (tested).
"""
