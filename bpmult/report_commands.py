"""Pipeline commands: run a notebook to HTML, the raw/prepare stages, and the report index."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bpmult.report.pages import write_text_atomic


def run_notebook(name: str, out_html: Path, parameters: dict[str, str], cwd: Path | None = None) -> Path:
    """Execute ``notebooks/<name>.ipynb`` with Papermill and render it to HTML with nbconvert.

    The executed notebook lives in a temporary folder; the HTML is written atomically, so a failed
    run leaves the previous page or none, never a half page.
    """
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    cwd = Path(cwd or Path.cwd())
    source = cwd / "notebooks" / f"{name}.ipynb"
    if not source.is_file():
        raise FileNotFoundError(f"{source}: notebook not found (expected notebooks/{name}.ipynb)")
    with tempfile.TemporaryDirectory() as tmp:
        executed = Path(tmp) / f"{name}.ipynb"
        papermill.execute_notebook(str(source), str(executed), parameters=parameters, kernel_name="python3",
                                   cwd=str(cwd), progress_bar=False, log_output=False)
        # the pages are reports: outputs only (the code is in notebooks/, one call per cell)
        exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
        # the page's <title>: what was run ("train: moviescope bpmult"), not nbconvert's "Notebook"
        title = " ".join([f"{name}:", *[parameters[k] for k in ("dataset", "variant") if k in parameters]])
        body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4),
                                              resources={"metadata": {"name": title}})
    write_text_atomic(Path(out_html), body)
    return Path(out_html)


def _parse_params(pairs: list[list[str]]) -> dict[str, str]:
    return {k: v for k, v in pairs or []}


def _cmd_notebook(args: argparse.Namespace) -> int:
    run_notebook(args.name, Path(args.out), _parse_params(args.p))
    print(f"wrote {args.out}")
    return 0


def _cmd_stage(args: argparse.Namespace) -> int:
    from bpmult import pipeline

    if args.stage == "raw":
        pipeline.raw_stage(args.name, Path(args.out), params_path=args.params)
    elif args.stage == "prepare":
        pipeline.prepare_stage(args.name, Path(args.raw), Path(args.out), params_path=args.params)
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bpmult import pipeline

    pipeline.report_stage(reports_dir=Path(args.reports), prepared_dir=Path(args.prepared), runs_dir=Path(args.runs),
                          params_path=args.params, claims_json_path=Path(args.claims))
    print(f"wrote {Path(args.reports) / 'index.html'}, {Path(args.reports) / 'claims.html'} and {args.claims}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notebook", help="execute a notebook with Papermill and render it to HTML")
    p.add_argument("name", choices=["train", "tables", "figures"])
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("-p", nargs=2, action="append", metavar=("KEY", "VALUE"), help="notebook parameter")
    p.set_defaults(func=_cmd_notebook)

    p = sub.add_parser("stage", help="run one data stage of the pipeline under the active profile")
    p.add_argument("stage", choices=["raw", "prepare"])
    p.add_argument("name", help="raw: moviescope|mmimdb|iemocap|mosei; prepare: a dataset name")
    p.add_argument("--raw", help="prepare: the raw folder")
    p.add_argument("--out", required=True)
    p.add_argument("--params", default="params.yaml")
    p.set_defaults(func=_cmd_stage)

    p = sub.add_parser("report", help="write reports/index.html (headline, claims, every table and figure) "
                                      "and the claims check (reports/claims.html, metrics/claims.json)")
    p.add_argument("--reports", default="reports", help="folder of the pages (default: reports)")
    p.add_argument("--prepared", default="data/prepared", help="prepared datasets (default: data/prepared)")
    p.add_argument("--runs", default="runs", help="run folders, or <run>.json summaries (default: runs)")
    p.add_argument("--params", default="params.yaml", help="params file naming the profile")
    p.add_argument("--claims", default="metrics/claims.json", help="claims JSON to write (default: "
                                                                  "metrics/claims.json)")
    p.set_defaults(func=_cmd_report)

