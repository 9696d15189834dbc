"""The embedded default: small synthetic raw datasets in exactly the upstream formats.

``bpmult synth DATASET --out DIR`` writes files that look like the real downloads (names, keys,
dtypes, nesting, pickle protocols), so ``bpmult prepare`` runs the same code on them. Each dataset
module owns the writer of its format (``write_synthetic``), the registry the entry point
(``synthesize``); this module holds what the writers share:

* **Labels from co-occurring events.** A label fires when an event of that label occurs in two
  modalities at once (e.g. a genre's words in the plot *and* the genre's pattern in the trailer
  frames). Either event alone also happens, without the label, so no single modality determines
  the labels and a model has to combine them.
* **Plot-like prose** whose genre/emotion words are the text events.
* **Feature patterns**: per label, a sparse non-negative vector (VGG-like features) or a band of
  mel bins / feature dimensions, added on a window of time steps.
* **Word vectors** that are a fixed function of the word (GloVe stand-ins), with the words of one
  label sharing a direction.

Sizes are real widths (4096, 300, 74, 35, 96 mel bins) with small counts and shorter sequences;
each writer lists its reductions in ``SYNTHETIC.json`` (the marker ``prepare`` copies into the
manifest), together with the ``DataConfig`` lengths that fit the shorter data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bpmult.data.errors import CorruptFileError

MARKER = "SYNTHETIC.json"
DEFAULT_SIZE = 200
GENERATOR_VERSION = 1

# ---------------------------------------------------------------------------------------------
# lexicons: the words that carry label signal (disjoint across labels and from the filler words)

GENRE_WORDS: dict[str, tuple[str, ...]] = {
    "Action": ("explosion", "chase", "gunfight", "mercenary", "stunt"),
    "Adventure": ("expedition", "treasure", "jungle", "voyage", "map"),
    "Animation": ("cartoon", "animated", "talking", "toy", "colorful"),
    "Biography": ("biography", "memoir", "true", "career", "legacy"),
    "Comedy": ("hilarious", "prank", "clumsy", "joke", "wacky"),
    "Crime": ("heist", "gangster", "robbery", "detective", "mafia"),
    "Documentary": ("documentary", "interviews", "archival", "footage", "filmmakers"),
    "Drama": ("grief", "struggle", "divorce", "tragedy", "illness"),
    "Family": ("kids", "parents", "holiday", "puppy", "siblings"),
    "Fantasy": ("wizard", "dragon", "kingdom", "spell", "enchanted"),
    "Film-Noir": ("femme", "fatale", "shadowy", "noir", "smoky"),
    "History": ("empire", "revolution", "century", "dynasty", "historic"),
    "Horror": ("ghost", "haunted", "demon", "scream", "curse"),
    "Music": ("band", "concert", "guitar", "singer", "album"),
    "Musical": ("songs", "dance", "broadway", "chorus", "rehearsal"),
    "Mystery": ("clue", "puzzle", "disappearance", "riddle", "enigma"),
    "Romance": ("love", "kiss", "wedding", "romance", "sweetheart"),
    "Sci-Fi": ("alien", "spaceship", "robot", "planet", "galaxy"),
    "Short": ("vignette", "brief", "sketch", "glimpse", "miniature"),
    "Sport": ("championship", "coach", "team", "boxing", "tournament"),
    "Thriller": ("conspiracy", "hostage", "assassin", "suspense", "stalker"),
    "War": ("soldiers", "platoon", "trenches", "wartime", "bombing"),
    "Western": ("cowboy", "sheriff", "saloon", "outlaw", "frontier"),
}

EMOTION_WORDS: dict[str, tuple[str, ...]] = {
    "anger": ("furious", "angry", "outraged", "annoyed", "hate"),
    "disgust": ("disgusting", "gross", "nasty", "revolting", "yuck"),
    "fear": ("scared", "afraid", "terrified", "worried", "nervous"),
    "happy": ("happy", "glad", "wonderful", "delighted", "awesome"),
    "sad": ("sad", "miserable", "lonely", "depressing", "crying"),
    "surprise": ("surprised", "shocked", "unexpected", "wow", "amazed"),
}

CHARACTER_NAMES = ("Mara", "Jonah", "Elena", "Victor", "Lucia", "Tomas", "Ada", "Felix", "Nora", "Omar", "Iris", "Leon")
_ROLES = ("teacher", "nurse", "farmer", "journalist", "student", "pilot", "lawyer", "painter", "mechanic", "widow")
_PLACES = ("village", "city", "harbor", "island", "valley", "suburb", "port", "town")
_ADJECTIVES = ("young", "retired", "stubborn", "quiet", "ambitious", "lonely", "curious", "weary")
_GOALS = ("find a missing friend", "save the old house", "start over", "keep a promise", "win back respect",
          "protect a secret", "repay an old debt", "return home")
_OPENINGS = ("{name}, {a_adj} {role} from a small {place}, has one last chance to {goal}.",
             "When {name}, {a_adj} {role}, arrives in the {place}, nothing goes as planned.",
             "{name} is {a_adj} {role} who wants to {goal}.")
_MIDDLES = ("Along the way {name} meets {other}, a {role} with a past.",
            "{other} offers help, but the price is high.",
            "Years later, {name} must decide whether to {goal}.",
            "Old friends and new rivals gather in the {place}.",
            "Soon {name} and {other} leave the {place} together.")
_LABEL_SENTENCES = ("It becomes a tale of {w0} and {w1}.",
                    "Expect {w0}, {w1} and {w2}.",
                    "{other} brings {w0} and {w1}.",
                    "Then comes the {w0}.")
_UTTERANCE_OPENINGS = ("I think the {topic} was", "Honestly the {topic} is", "So my view on the {topic} is",
                       "Well, about the {topic},", "To be fair the {topic} seemed")
_TOPICS = ("movie", "product", "restaurant", "phone", "book", "game", "trip", "course", "album", "show")
_UTTERANCE_FILLERS = ("pretty much what I expected", "something I would talk about", "kind of average overall",
                      "fine for the price", "worth a look if you have time", "not what people say")


def generator_record(dataset: str, seed: int, size: int, reductions: dict[str, str],
                     data_config: dict[str, Any]) -> dict[str, Any]:
    """The content of ``SYNTHETIC.json``."""
    return {"generator": "bpmult.data.synthetic", "version": GENERATOR_VERSION, "dataset": dataset,
            "seed": seed, "size": size, "reductions": reductions, "data_config": data_config}


def write_marker(out: Path, record: dict[str, Any]) -> None:
    (out / MARKER).write_text(json.dumps(record, indent=1) + "\n")


def read_marker(raw: Path) -> dict[str, Any] | None:
    """The ``SYNTHETIC.json`` record of a raw folder, or None when it is real data."""
    path = Path(raw) / MARKER
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(path, expected="the synthetic-data marker in JSON", found=f"invalid JSON ({err})",
                               hint="write the set again with `bpmult synth`") from None
    if not isinstance(record, dict) or not isinstance(record.get("data_config"), dict):
        raise CorruptFileError(path, key="data_config", expected="an object of DataConfig lengths", found="none",
                               hint="write the set again with `bpmult synth`")
    return record


# ---------------------------------------------------------------------------------------------
# labels


def cooccurring_events(rng: np.random.Generator, n: int, n_labels: int, p_first: float, p_second: float,
                       min_labels: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of each label in two modalities and the labels they imply: ``label = first & second``.

    Rows with fewer than ``min_labels`` labels get both events of a random label (a movie has at
    least one genre). Returns boolean arrays ``(first, second, labels)``, each (n, n_labels).
    """
    first = rng.random((n, n_labels)) < p_first
    second = rng.random((n, n_labels)) < p_second
    for i in range(n):
        while (first[i] & second[i]).sum() < min_labels:
            j = rng.integers(n_labels)
            first[i, j] = second[i, j] = True
    return first, second, first & second


def split_names(rng: np.random.Generator, n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2)) -> np.ndarray:
    """A shuffled assignment of ``n`` items to train/dev/test (every split non-empty when n >= 3)."""
    counts = [max(1, int(round(f * n))) for f in fractions[1:]]
    counts = [n - sum(counts), *counts]
    if counts[0] < 1:
        raise ValueError(f"synthetic size {n}: expected at least 3 samples (one per split)")
    names = np.array(["train"] * counts[0] + ["dev"] * counts[1] + ["test"] * counts[2])
    return names[rng.permutation(n)]


# ---------------------------------------------------------------------------------------------
# text


def plot(rng: np.random.Generator, words_by_label: Sequence[Sequence[str]], fillers: int = 1) -> str:
    """A plot summary: an opening, ``fillers`` neutral sentences and, per entry of
    ``words_by_label``, one sentence with its first word (always) and up to two others, the
    sentences after the opening in random order."""
    name, other = rng.choice(CHARACTER_NAMES, size=2, replace=False)
    adjective = str(rng.choice(_ADJECTIVES))
    fill = {"name": name, "other": other, "a_adj": ("an " if adjective[0] in "aeiou" else "a ") + adjective,
            "role": rng.choice(_ROLES), "place": rng.choice(_PLACES), "goal": rng.choice(_GOALS)}
    middles = [str(m).format(**fill) for m in rng.choice(_MIDDLES, size=min(fillers, len(_MIDDLES)), replace=False)]
    for label_words in words_by_label:
        # the label's first word always (every template uses w0): a consistent cue in varied prose
        w1, w2 = rng.choice(label_words[1:], size=2, replace=False)
        middles.append(str(rng.choice(_LABEL_SENTENCES)).format(w0=label_words[0], w1=w1, w2=w2, **fill))
    sentences = [str(rng.choice(_OPENINGS)).format(**fill), *(middles[i] for i in rng.permutation(len(middles)))]
    return " ".join(sentence[0].upper() + sentence[1:] for sentence in sentences)


def utterance(rng: np.random.Generator, words_by_label: Sequence[Sequence[str]]) -> str:
    """A short spoken opinion (MOSEI-like); each entry adds one or two of its words."""
    text = rng.choice(_UTTERANCE_OPENINGS).format(topic=rng.choice(_TOPICS))
    pieces = [rng.choice(_UTTERANCE_FILLERS)]
    for label_words in words_by_label:
        pieces.append(" and ".join(rng.choice(label_words, size=int(rng.integers(1, 3)), replace=False)))
    order = rng.permutation(len(pieces))
    return text + " " + ", ".join(pieces[i] for i in order) + "."


def _seeded(text: str) -> np.random.Generator:
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little"))


def word_vector(word: str, dim: int = 300, directions: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """A GloVe stand-in: a fixed pseudo-random vector per word (same word, same vector, any seed)."""
    vector = _seeded(word).normal(0.0, 0.35, dim).astype(np.float32)
    if directions and word in directions:
        vector += directions[word]
    return vector


def label_directions(lexicon: dict[str, Sequence[str]], dim: int = 300, scale: float = 0.8) -> dict[str, np.ndarray]:
    """Per word of ``lexicon``, a direction shared by its label's words (``scale`` x a word's norm)."""
    out = {}
    for label, label_words in lexicon.items():
        direction = (_seeded("label:" + label).normal(0.0, 0.35, dim) * scale).astype(np.float32)
        for word in label_words:
            out[word] = direction
    return out


# ---------------------------------------------------------------------------------------------
# feature patterns


def sparse_patterns(rng: np.random.Generator, n_labels: int, width: int, active: int, scale: float) -> np.ndarray:
    """(n_labels, width) non-negative patterns with disjoint supports of ``active`` dims each."""
    if n_labels * active > width:
        raise ValueError(f"{n_labels} patterns of {active} dims do not fit in {width} dims")
    support = rng.permutation(width)[: n_labels * active].reshape(n_labels, active)
    patterns = np.zeros((n_labels, width), dtype=np.float32)
    for label in range(n_labels):
        patterns[label, support[label]] = scale * (0.75 + 0.5 * rng.random(active))
    return patterns


def relu_noise(rng: np.random.Generator, shape: Sequence[int], scale: float = 0.5) -> np.ndarray:
    """Background activations like a ReLU layer's: non-negative, about half zeros."""
    return np.maximum(rng.normal(0.0, scale, shape), 0.0).astype(np.float32)


def event_window(rng: np.random.Generator, length: int, span: int, start: int = 0) -> slice:
    """A random window of ``span`` steps inside ``[start, length)``."""
    span = max(1, min(span, length - start))
    first = int(rng.integers(start, length - span + 1))
    return slice(first, first + span)


def left_pad(sequence: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad a (T, d) sequence at the front to ``length`` steps, as MuLT's pickles are padded."""
    out = np.zeros((length, *sequence.shape[1:]), dtype=np.float32)
    out[length - len(sequence):] = sequence[-length:]
    return out
