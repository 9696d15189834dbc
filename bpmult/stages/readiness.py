"""``bpmult check-data [--profile paper]``: can the pipeline's data stages run, before anything runs?

``dvc exp run -S profile=paper`` rewrites ``params.yaml`` and then stops at the first raw stage that
lacks a file, leaving ``profile: paper`` behind (issue 13). This check reads the profile without
changing anything and lists, for every dataset, what is still to place by hand (and where), the
folder links DVC could not see into (with the ``bpmult place`` command), and whether the text
encoder is in the Hugging Face cache. Downloadable files are fetched by the raw stages and are not
required here. Exit status 0 when the profile can run, 2 otherwise.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bpmult.data import registry
from bpmult.data.errors import MissingFileError
from bpmult.data.place import folder_links
from bpmult.experiment.params import profile_names
from bpmult.paramsfile import load_params
from bpmult.stages.data import data_section, raw_folder, unplaced
from bpmult.stages.paths import MANUAL, PARAMS, active_profile, downloads


def readiness(params_path: str | Path = PARAMS, profile: str | None = None) -> tuple[bool, list[str]]:
    """(ready, report lines) of ``profile`` (default the active one) of ``params_path``."""
    params = load_params(params_path)
    profile = profile or active_profile(params)
    if profile not in profile_names(params):
        raise ValueError(f"{params_path}: profile {profile!r}: expected one of {profile_names(params)}")
    data = data_section(profile, params[profile])
    lines = [f"profile {profile} (data source: {data.get('source', 'fetch')}):"]
    if data.get("source", "fetch") == "synth":
        return True, lines + ["  synthetic data, written by the raw stages: nothing to fetch or place"]
    ready = True
    for source, folders in registry.FETCH_TARGETS.items():
        folder = raw_folder(data, source)
        sources = folders.get(folder, ())
        # every hand-placed source is needed by the pipeline (optional ones too: Moviescope's
        # metadata feeds the TVAPM runs), while fetch only notes an absent optional one
        missing = unplaced(folder, sources)
        links = folder_links(MANUAL / folder)  # none when the folder is absent
        if missing:
            lines.append(f"  {source}: place by hand: " + "; ".join(str(MANUAL / folder / s.path) for s in missing))
        for link in links:
            lines.append(f"  {source}: {link} is a folder link DVC does not look into; run: bpmult place "
                         f"{os.path.realpath(link)} {link}")
        if not missing and not links:
            downloads_left = sum(1 for s in sources if s.urls and not (downloads() / folder / s.path).exists()
                                 and not (MANUAL / folder / s.path).exists())
            rest = f" ({downloads_left} file(s) to download by the raw stage)" if downloads_left else ""
            lines.append(f"  {source}: ready{rest}")
        ready = ready and not missing and not links
    encoder = data.get("text_encoder", "minilm")
    if encoder == "bert-base-uncased":
        from bpmult.data.text import bert_snapshot  # deferred: huggingface_hub is slow to import

        try:
            lines.append(f"  text encoder bert-base-uncased: in the Hugging Face cache ({bert_snapshot()})")
        except MissingFileError as err:
            lines.append(f"  text encoder: {err}")
            ready = False
    else:
        lines.append(f"  text encoder {encoder}: packaged (offline)")
    where = "" if profile == active_profile(params) else f" -S profile={profile}"
    lines.append(f"ready: dvc exp run{where}" if ready else
                 "not ready: nothing was changed; fix the lines above, then run this check again")
    return ready, lines


def _cmd(args: argparse.Namespace) -> int:
    ready, lines = readiness(args.params, args.profile)
    print("\n".join(lines))
    return 0 if ready else 2


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check-data", help="say what a profile's data stages still need (changes nothing)",
                       description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--profile", default=None, help="the profile to check (default: params.yaml's `profile`)")
    p.add_argument("--params", default=str(PARAMS), help="params file (default: params.yaml)")
    p.set_defaults(func=_cmd)

