"""`train` and `eval` commands for the classifier, and building the shipped default model.

Paths default to the repository layout (config/, var/models/), never to backend settings; the main
`gridbot` CLI mounts :data:`app` and passes its own paths.
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from nlp.classify import PIPELINE_VERSION
from nlp.dataio import Dataset, concat, files_sha256, load_label_info, parse_cols, read_dataset
from nlp.evaluate import evaluate_model, plot_confusion, print_metrics
from nlp.labelmap import read_label_map
from nlp.lexicon import LEXICON_SCALE, read_lexicon
from nlp.modelfile import ModelLoadError, load_model, read_meta, save_model, version_mismatches
from nlp.tokenize import STOPWORDS_FILE, words_from_config
from nlp.train import PRIOR_WEIGHT, seed_prior, train_model
from nlp.train import Progress as ProgressFn

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG_DIR = REPO_ROOT / "config"
DEFAULT_MODEL_ROOT = REPO_ROOT / "var" / "models"
DEFAULT_MODEL_NAME = "default"
SEED_CORPUS = "seed_corpus"
# Config files that shape the default model: its corpus, its labels and its user dictionary.
SOURCE_FILES = ("taxonomy.yaml", "responsibilities.yaml", "departments.yaml", "demo_city.geojson")

app = typer.Typer(help="Train and evaluate the complaint classifier.", no_args_is_help=True)
console = Console()

ConfigDirOpt = Annotated[Path, typer.Option("--config-dir", help="config directory (taxonomy etc.)")]
ModelRootOpt = Annotated[Path, typer.Option("--model-root", help="the only directory models load from")]
TextColsOpt = Annotated[str, typer.Option("--text-cols", help="comma-separated text columns, joined")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="label column")]


@app.command()
def train(
    data: Annotated[Path, typer.Option("--data", exists=True, help="CSV/XLSX file or a directory of CSVs")],
    text_cols: TextColsOpt = "text",
    label_col: LabelColOpt = "label",
    cv: Annotated[int | None, typer.Option("--cv", min=2, help="stratified k-fold CV before the fit")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="model directory (default: MODEL_ROOT/default)")] = None,
    metrics_out: Annotated[Path | None, typer.Option("--metrics-out", help="write metrics JSON here")] = None,
    extra_data: Annotated[
        list[Path] | None,
        typer.Option("--extra-data", exists=True, help="more labelled data (same columns, or label,text); repeatable"),
    ] = None,
    seed_prior_map: Annotated[
        Path | None,
        typer.Option(
            "--seed-prior",
            exists=True,
            help="label map (YAML) onto the data's labels: also learn from the seed corpus relabelled through it,"
            f" at weight {PRIOR_WEIGHT} per message",
        ),
    ] = None,
    lexicon_file: Annotated[
        Path | None,
        typer.Option(
            "--lexicon",
            exists=True,
            help="the city's category tree (CSV/XLSX, header row; a path per row: first column the first-level"
            " domain, further columns the categories under it): per node with children, a group of its terms,"
            f" {LEXICON_SCALE} x log(1 + distinct terms in the message) becomes a feature",
        ),
    ] = None,
    config_dir: ConfigDirOpt = DEFAULT_CONFIG_DIR,
    model_root: ModelRootOpt = DEFAULT_MODEL_ROOT,
) -> None:
    """Train a classifier on labelled messages and save it with its metadata."""
    try:
        cols = parse_cols(text_cols)
        datasets = [read_dataset(data, cols, label_col)]
        datasets += [_read_extra(path, cols, label_col) for path in extra_data or []]
        dataset = concat(datasets)
        info = load_label_info(config_dir)
        prior = None
        if seed_prior_map:
            label_map = read_label_map(seed_prior_map)
            prior = seed_prior(config_dir / SEED_CORPUS, info, label_map, dataset.labels or [])
            console.print(f"with {len(prior.texts)} seed-corpus messages as prior (weight {prior.weight})")
        lexicon = read_lexicon(lexicon_file) if lexicon_file else None
        if lexicon is not None:
            console.print(f"with a lexicon of {len(lexicon)} groups, {len(lexicon.terms)} terms")
        console.print(f"training on {len(dataset)} messages from {dataset.source}")
        with _progress_bar() as progress:
            model, metrics = train_model(
                dataset.texts,
                dataset.labels or [],
                label_info=info,
                user_words=words_from_config(config_dir),
                cv=cv,
                progress=progress,
                prior=prior,
                lexicon=lexicon,
            )
    except ValueError as exc:  # bad columns, too few examples per label for --cv, ...
        console.print(f"[red]cannot train:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    model_dir = out or model_root / DEFAULT_MODEL_NAME
    print_metrics(metrics, console)
    save_model(
        model,
        model_dir,
        metadata={
            "built_from": "custom",
            "data_sources": [d.source for d in datasets],
            "lexicon_source": str(lexicon_file) if lexicon_file else None,
            "text_cols": cols,
            "label_col": label_col,
            "training_data_sha256": metrics["training_data_sha256"],
            "metrics": _brief(metrics),
        },
    )
    if metrics_out:
        _write_json(metrics_out, metrics)
    console.print(f"model saved to {model_dir}")


@app.command("eval")
def evaluate(
    data: Annotated[Path, typer.Option("--data", exists=True, help="labelled CSV/XLSX file or directory")],
    model: Annotated[str, typer.Option("--model", help="model directory, or 'default'")] = DEFAULT_MODEL_NAME,
    text_cols: TextColsOpt = "text",
    label_col: LabelColOpt = "label",
    label_map: Annotated[
        Path | None,
        typer.Option(
            "--label-map",
            exists=True,
            help="CSV source_label,target_label, or YAML mapping each source label to a set of our codes",
        ),
    ] = None,
    metrics_out: Annotated[Path | None, typer.Option("--metrics-out", help="write metrics JSON here")] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="write the confusion matrix as a PNG")] = None,
    model_root: ModelRootOpt = DEFAULT_MODEL_ROOT,
) -> None:
    """Evaluate a saved model on labelled messages, optionally through a label map."""
    model_dir = model_root / DEFAULT_MODEL_NAME if model == DEFAULT_MODEL_NAME else Path(model)
    try:
        classifier = load_model(model_dir, allowed_root=model_root)
    except ModelLoadError as exc:
        console.print(f"[red]cannot load model:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    try:
        dataset = read_dataset(data, parse_cols(text_cols), label_col)
        mapping = read_label_map(label_map) if label_map else None
        metrics = evaluate_model(classifier, dataset.texts, dataset.labels or [], label_map=mapping)
    except ValueError as exc:  # bad columns, label map naming classes the model does not know, ...
        console.print(f"[red]cannot evaluate:[/red] {exc}")
        raise typer.Exit(code=2) from exc
    metrics["model"] = str(model_dir)
    print_metrics(metrics, console)
    if mapping is not None:
        console.print(
            f"label map: evaluated at {metrics['level']} level, {metrics['unmapped_rows']} unmapped rows skipped"
        )
    if metrics_out:
        _write_json(metrics_out, metrics)
    if plot:
        plot_confusion(metrics, plot)
        console.print(f"confusion matrix plot written to {plot}")


def default_source_sha256(config_dir: Path) -> str:
    """Hash of everything the default model is built from: corpus, label config, stop words, pipeline."""
    digest = files_sha256([config_dir / SEED_CORPUS, *(config_dir / f for f in SOURCE_FILES), STOPWORDS_FILE])
    return f"{PIPELINE_VERSION}:{digest}"


def build_default_model(
    config_dir: Path, model_root: Path, *, cv: int | None = None, progress: ProgressFn | None = None
) -> Path:
    """Train the shipped model from config/seed_corpus/ into MODEL_ROOT/default and return that directory."""
    dataset = read_dataset(config_dir / SEED_CORPUS, ["text"], "label")
    model, metrics = train_model(
        dataset.texts,
        dataset.labels or [],
        label_info=load_label_info(config_dir),
        user_words=words_from_config(config_dir),
        cv=cv,
        progress=progress,
        linear="linearsvc",  # NB-SVM lowered cold start on real messages (nlp/classify.py docstring)
    )
    return save_model(
        model,
        model_root / DEFAULT_MODEL_NAME,
        metadata={
            "built_from": SEED_CORPUS,
            "data_sources": [str(config_dir / SEED_CORPUS)],
            "source_sha256": default_source_sha256(config_dir),
            "training_data_sha256": metrics["training_data_sha256"],
            "metrics": _brief(metrics),
        },
    )


def ensure_default_model(config_dir: Path, model_root: Path) -> Path:
    """MODEL_ROOT/default, (re)built if missing, built under other library versions, or stale.

    Stale means a seed-corpus model whose corpus/config hash changed; a model someone trained into
    the default directory with `train` (e.g. with staff corrections) is kept unless it cannot load.
    """
    model_dir = model_root / DEFAULT_MODEL_NAME
    model_root.mkdir(parents=True, exist_ok=True)
    with _file_lock(model_root / ".default.lock"):
        reason = _rebuild_reason(model_dir, config_dir)
        if reason:
            logger.warning("building the default model: %s", reason)
            build_default_model(config_dir, model_root)
    return model_dir


def _rebuild_reason(model_dir: Path, config_dir: Path) -> str | None:
    if not model_dir.exists():
        return f"no model in {model_dir} yet"
    try:
        meta = read_meta(model_dir)
    except ModelLoadError as exc:
        return str(exc)
    if not (model_dir / str(meta.get("model_file", "model.joblib"))).is_file():
        return "model file missing"
    mismatches = version_mismatches(meta)
    if mismatches:
        return "; ".join(mismatches)
    if meta.get("built_from") == SEED_CORPUS and meta.get("source_sha256") != default_source_sha256(config_dir):
        return "seed corpus or config changed"
    return None


def _read_extra(path: Path, cols: Sequence[str], label_col: str) -> Dataset:
    try:
        return read_dataset(path, cols, label_col)
    except ValueError:
        return read_dataset(path, ["text"], "label")


def _brief(metrics: dict[str, Any]) -> dict[str, Any]:
    keep = ("accuracy", "macro_f1", "cv", "evaluated_on", "n_samples", "n_labels", "train_seconds", "prior", "lexicon")
    return {k: metrics[k] for k in keep if k in metrics}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    console.print(f"metrics written to {path}")


@contextmanager
def _progress_bar() -> Iterator[ProgressFn]:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("training", total=1)

        def update(description: str, done: int, total: int) -> None:
            bar.update(task, description=description, completed=done, total=total)

        yield update


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Two processes starting together (API and worker) must not build the model at the same time.
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


if __name__ == "__main__":
    app()
