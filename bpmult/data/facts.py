"""The facts of every dataset, in one place: names, label orders, modalities, task, selection metric.

Every data module reads its label order and modality names from here (``FACTS[name]``), so a
label order cannot differ between the prepare step, the metrics and the report. Nothing here
does I/O; the dataset modules own their file formats, the registry the dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

SPLITS = ("train", "dev", "test")
TASKS = ("multilabel", "iemocap")


@dataclass(frozen=True)
class DatasetFacts:
    """What is true of one prepared dataset whatever the raw files.

    Attributes:
        name: the prepared dataset's name (``bpmult prepare NAME``).
        raw_folder: its raw folder / ``bpmult fetch`` target (both IEMOCAP settings share ``iemocap``).
        task: ``"multilabel"`` (float32 multi-hot labels, sigmoid per class) or ``"iemocap"``
            (int64 (N, 4) labels in {0, 1}, a 2-way softmax per emotion).
        label_names: the canonical label order of ``label.npy`` columns.
        modalities: the prepared input arrays always written, in manifest order.
        optional_modalities: arrays written only when their raw files are present.
        selection_metric: the dev metric for model selection, LR schedule and early stopping.
        upstream_sizes: train/dev/test samples of the real data (None: not confirmed).
        upstream_lengths: steps per sequence modality of the real data at the authors' settings.
        audio_is_spectrogram: the audio input is a raw mel spectrogram of varying length.
    """

    name: str
    raw_folder: str
    task: str
    label_names: tuple[str, ...]
    modalities: tuple[str, ...]
    selection_metric: str
    optional_modalities: tuple[str, ...] = ()
    upstream_sizes: tuple[int | None, int | None, int | None] = (None, None, None)
    upstream_lengths: Mapping[str, int] = field(default_factory=dict)
    audio_is_spectrogram: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"DatasetFacts({self.name}).task: expected one of {TASKS}, found {self.task!r}")

    @property
    def label_dtype(self) -> str:
        return "int64" if self.task == "iemocap" else "float32"


MOVIESCOPE_GENRES = ("Action", "Animation", "Biography", "Comedy", "Crime", "Drama", "Family", "Fantasy", "Horror",
                     "Mystery", "Romance", "Sci-Fi", "Thriller")
MMIMDB_GENRES = ("Action", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary", "Drama", "Family",
                 "Fantasy", "Film-Noir", "History", "Horror", "Music", "Musical", "Mystery", "Romance", "Sci-Fi",
                 "Short", "Sport", "Thriller", "War", "Western")
IEMOCAP_EMOTIONS = ("neutral", "happy", "sad", "angry")        # MuLT's eval_iemocap order
MOSEI_EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise")  # Dai et al.'s annotation order

_IEMOCAP = dict(raw_folder="iemocap", task="iemocap", label_names=IEMOCAP_EMOTIONS,
                modalities=("text", "video", "audio"), selection_metric="avg_acc", upstream_sizes=(2717, 798, 938))

FACTS: dict[str, DatasetFacts] = {
    "moviescope": DatasetFacts(
        "moviescope", "moviescope", "multilabel", MOVIESCOPE_GENRES, ("text", "video", "audio", "poster"),
        "ap_micro", optional_modalities=("metadata",), upstream_sizes=(None, None, 987),
        upstream_lengths={"text": 512, "video": 200}, audio_is_spectrogram=True),
    "mmimdb": DatasetFacts(
        "mmimdb", "mmimdb", "multilabel", MMIMDB_GENRES, ("text", "video", "audio", "poster"), "f1_micro",
        upstream_sizes=(15552, 2608, 7799), upstream_lengths={"text": 512, "video": 512, "audio": 512}),
    "iemocap_aligned": DatasetFacts("iemocap_aligned", upstream_lengths={"text": 20, "video": 20, "audio": 20},
                                    **_IEMOCAP),
    "iemocap_unaligned": DatasetFacts("iemocap_unaligned", upstream_lengths={"text": 20, "video": 500, "audio": 400},
                                      **_IEMOCAP),
    "mosei": DatasetFacts(
        "mosei", "mosei", "multilabel", MOSEI_EMOTIONS, ("text", "video", "audio"), "avg_wacc",
        upstream_sizes=(14524, 1765, 4188), upstream_lengths={"text": 128, "video": 500, "audio": 500}),
}
DATASETS = tuple(FACTS)
RAW_FOLDERS = tuple(dict.fromkeys(f.raw_folder for f in FACTS.values()))


def facts(name: str) -> DatasetFacts:
    """The facts of dataset ``name``, or a one-line error listing the known names."""
    if name not in FACTS:
        raise ValueError(f"dataset {name!r}: expected one of {', '.join(DATASETS)}")
    return FACTS[name]
