"""Classifier: CV quality on real and seed data, cold-start accuracy, throughput, load time, memory.

Run: .venv/bin/python -m bench.classify [--json] [--data-dir ../shared/data] [--folds 5]

The real citizen messages in ../shared/data are read for measuring only (never trained into the
shipped model, never committed). Without them, the real-data rows say so and the rest is measured
on the seed corpus in config/seed_corpus/.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._report import report
from nlp.cli import DEFAULT_CONFIG_DIR, DEFAULT_MODEL_ROOT, SEED_CORPUS, ensure_default_model
from nlp.dataio import Dataset, load_label_info, read_dataset, read_frame
from nlp.evaluate import evaluate_model
from nlp.labelmap import read_label_map
from nlp.lexicon import read_lexicon
from nlp.modelfile import MODEL_FILE, load_model
from nlp.tokenize import words_from_config
from nlp.train import PRIOR_WEIGHT, cross_validate, seed_prior, train_model

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
TAIDI = "taidi2020c_dev_labeled.csv"
TAIDI_TREE = "taidi2020c_taxonomy.csv"  # the mailbox's own category tree: level1, level2, level3
COCC = "cocc_telecom_complaints.csv"
# The 7 taidi labels → the sets of our departments/categories they cover (config/label_maps/).
TAIDI_LABEL_MAP = Path("label_maps") / "taidi2020c.yaml"
COLD_START_TARGET = "≥ 0.85 (at least 0.80)"
THROUGHPUT_TARGET = "≥ 20,000 msgs/s"
LATENCY_TARGET = "≤ 0.3 ms"
# Column names seen in these datasets' public releases, then our own.
TITLE_COLS = ("留言主题", "title", "主题")
TEXT_COLS = ("留言详情", "text", "content", "投诉内容", "内容", "complaint")
LABEL_COLS = ("一级标签", "label", "category", "类别", "标签")
MESSAGE_CHARS = 100
# The figures before issue 15 (BENCHMARKS.md, run of 2026-12-04 06:36 UTC), shown beside this run's.
BEFORE = {
    "taidi_cv_macro_f1": "0.793",
    "cocc_cv_macro_f1": "0.885",
    "cold_start_accuracy": "0.794",
    "cold_start_macro_f1": "0.793",
    "throughput": "14,160 msgs/s",
    "latency": "1.01 ms",
    "model_load": "0.283 s",
}
ABSENT = "not measured: ../shared/data absent"

_LOAD_PROBE = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from nlp.modelfile import load_model
t1 = time.perf_counter()
model = load_model(Path(sys.argv[1]), allowed_root=Path(sys.argv[2]))
t2 = time.perf_counter()
texts = json.loads(Path(sys.argv[3]).read_text(encoding="utf-8"))
model.predict_many(texts)
# VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the parent's peak.
status = Path("/proc/self/status").read_text()
hwm_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "peak_rss_mb": hwm_kb / 1024}))
"""


def _pick(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def read_real(path: Path, *, labelled: bool = True) -> Dataset:
    """A real dataset with title+text joined, guessing its column names."""
    columns = list(read_frame(path).columns)
    text_cols = [c for c in (_pick(columns, TITLE_COLS), _pick(columns, TEXT_COLS)) if c]
    label = _pick(columns, LABEL_COLS) if labelled else None
    if not text_cols or (labelled and not label):
        raise ValueError(f"{path.name}: cannot tell text/label columns among {columns}")
    return read_dataset(path, text_cols, label)


def as_messages(texts: list[str], count: int, seed: int = 0) -> list[str]:
    """count messages of about MESSAGE_CHARS characters, cut or joined from texts."""
    rnd = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        text = rnd.choice(texts)
        while len(text) < MESSAGE_CHARS:
            text += rnd.choice(texts)
        out.append(text[:MESSAGE_CHARS])
    return out


def measure_throughput(model: Any, messages: list[str], repeats: int = 3) -> dict[str, float]:
    """Best-of-repeats messages/s through predict_many (wall clock and process CPU time), and the
    median single-message predict() latency in ms."""
    model.predict_many(messages[:200])  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        model.predict_many(messages)
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    latencies = []
    for text in messages[:300]:
        t = time.perf_counter()
        model.predict(text)
        latencies.append(time.perf_counter() - t)
    return {
        "wall": len(messages) / min(wall),
        "cpu": len(messages) / min(cpu),
        "latency_ms": sorted(latencies)[len(latencies) // 2] * 1000,
    }


def measure_reference(model: Any, messages: list[str], singles: int = 100) -> dict[str, float]:
    """The same figures through the fitted scikit-learn pipeline's own ``predict_proba`` (what the
    classifier computes itself; a test checks both give the same probabilities)."""
    pipeline = model.pipeline
    pipeline.predict_proba(messages[:200])  # warm-up
    w, c = time.perf_counter(), time.process_time()
    pipeline.predict_proba(messages)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    latencies = []
    for text in messages[:singles]:
        t = time.perf_counter()
        pipeline.predict_proba([text])
        latencies.append(time.perf_counter() - t)
    return {
        "wall": len(messages) / wall,
        "cpu": len(messages) / cpu,
        "latency_ms": sorted(latencies)[len(latencies) // 2] * 1000,
    }


def probe_load(model_dir: Path, model_root: Path, messages: list[str]) -> dict[str, float]:
    """Load time and peak RSS in a fresh process that loads the model and classifies the messages."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as f:
        json.dump(messages, f, ensure_ascii=False)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _LOAD_PROBE, str(model_dir), str(model_root), f.name],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO_ROOT,
        )
    finally:
        Path(f.name).unlink()
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Measure everything measurable and report it."""
    parser = argparse.ArgumentParser(description="classifier benchmark")
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--config-dir", type=Path, default=DEFAULT_CONFIG_DIR)
    parser.add_argument("--model-root", type=Path, default=DEFAULT_MODEL_ROOT)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=10_000, help="messages for the throughput run")
    args = parser.parse_args()

    config, folds = args.config_dir, args.folds
    info = load_label_info(config)
    words = words_from_config(config)
    figures: dict[str, Any] = {"data_dir_present": args.data_dir.is_dir()}
    rows: list[tuple[str, Any, str]] = []
    quiet = lambda *_: None  # noqa: E731
    reliability: list[str] = []

    def cv_rows(
        name: str, key: str, path: Path, target: str, *, with_prior: bool = False, with_lexicon: bool = False
    ) -> None:
        tree = args.data_dir / TAIDI_TREE
        if not path.is_file() or (with_lexicon and not tree.is_file()):
            figures[f"{key}_macro_f1"] = figures[f"{key}_accuracy"] = None
            rows.append((f"{name}: {folds}-fold CV macro-F1", ABSENT, target))
            rows.append((f"{name}: {folds}-fold CV accuracy", ABSENT, "—"))
            return
        data = read_real(path)
        prior = None
        if with_prior:
            label_map = read_label_map(config / TAIDI_LABEL_MAP)
            prior = seed_prior(config / SEED_CORPUS, info, label_map, data.labels or [])
        m = cross_validate(
            data.texts,
            data.labels or [],
            info={},
            user_words=words,
            folds=folds,
            progress=quiet,
            prior=prior,
            lexicon=read_lexicon(tree) if with_lexicon else None,
        )
        figures[f"{key}_macro_f1"], figures[f"{key}_accuracy"] = (
            m["cv"]["macro_f1_mean"],
            m["cv"]["accuracy_mean"],
        )
        figures[f"{key}_n"] = len(data)
        figures[f"{key}_ece"] = m["calibration"]["ece"]
        reliability.append(reliability_markdown(f"{name}, out-of-fold", m["calibration"]))
        rows.append(
            (
                f"{name} ({len(data)} msgs): {folds}-fold CV macro-F1",
                f"{m['cv']['macro_f1_mean']:.3f} ± {m['cv']['macro_f1_std']:.3f}" + before(f"{key}_macro_f1"),
                target,
            )
        )
        rows.append(
            (
                f"{name}: {folds}-fold CV accuracy",
                f"{m['cv']['accuracy_mean']:.3f} ± {m['cv']['accuracy_std']:.3f}",
                "—",
            )
        )
        rows.append((f"{name}: ECE of out-of-fold top-1 probabilities", f"{m['calibration']['ece']:.3f}", "—"))

    cv_rows("taidi2020c dev, title+text", "taidi_cv", args.data_dir / TAIDI, "≥ 0.90")
    cv_rows(
        f"taidi2020c dev with the seed corpus as prior (`train --seed-prior`, weight {PRIOR_WEIGHT})",
        "taidi_prior_cv",
        args.data_dir / TAIDI,
        "≥ 0.90",
        with_prior=True,
    )
    lexicon = "the official category tree as lexicon (`train --lexicon`)"
    cv_rows(f"taidi2020c dev with {lexicon}", "taidi_lex_cv", args.data_dir / TAIDI, "≥ 0.90", with_lexicon=True)
    cv_rows(
        f"taidi2020c dev with the seed corpus as prior and {lexicon}",
        "taidi_prior_lex_cv",
        args.data_dir / TAIDI,
        "≥ 0.90",
        with_prior=True,
        with_lexicon=True,
    )
    cv_rows("COCC telecom", "cocc_cv", args.data_dir / COCC, "≥ 0.93")

    seed = read_dataset(config / SEED_CORPUS, ["text"], "label")
    m = cross_validate(
        seed.texts, seed.labels or [], info=info, user_words=words, folds=folds, progress=quiet, linear="linearsvc"
    )  # the shipped model's pipeline
    cv = m["cv"]
    figures.update(
        seed_n=len(seed),
        seed_labels=len(set(seed.labels or [])),
        seed_cv_macro_f1=cv["macro_f1_mean"],
        seed_cv_macro_f1_std=cv["macro_f1_std"],
        seed_cv_accuracy=cv["accuracy_mean"],
        seed_cv_ece=m["calibration"]["ece"],
    )
    rows.append(
        (
            f"seed corpus ({len(seed)} msgs, {figures['seed_labels']} labels): {folds}-fold CV macro-F1",
            f"{cv['macro_f1_mean']:.3f} ± {cv['macro_f1_std']:.3f}",
            "— (own corpus, optimistic)",
        )
    )
    rows.append(("seed corpus: CV accuracy", f"{cv['accuracy_mean']:.3f} ± {cv['accuracy_std']:.3f}", "—"))
    rows.append(("seed corpus: ECE of out-of-fold top-1 probabilities", f"{m['calibration']['ece']:.3f}", "—"))
    reliability.append(reliability_markdown("seed corpus, out-of-fold (subcategories)", m["calibration"]))

    model_dir = ensure_default_model(config, args.model_root)
    model = load_model(model_dir, allowed_root=args.model_root)
    cold_notes = ""
    if (args.data_dir / TAIDI).is_file():
        taidi = read_real(args.data_dir / TAIDI)
        label_map = read_label_map(config / TAIDI_LABEL_MAP)
        cold = evaluate_model(model, taidi.texts, taidi.labels or [], label_map=label_map)
        figures.update(
            cold_start_accuracy=cold["accuracy"],
            cold_start_macro_f1=cold["macro_f1"],
            cold_start_per_class=cold["per_class"],
            cold_start_confusion=cold["confusion_matrix"],
            cold_start_ece=cold["calibration"]["ece"],
        )
        rows += cold_start_rows(cold)
        cold_notes = "\n\n" + confusion_markdown(cold)
        shipped = reliability_markdown("shipped model on taidi dev, via the label map", cold["calibration"])
        reliability.insert(0, shipped)
    else:
        figures["cold_start_accuracy"] = figures["cold_start_macro_f1"] = None
        rows.append(
            ("cold start: shipped model on taidi via label map, department accuracy", ABSENT, COLD_START_TARGET)
        )
        rows.append(("cold start: macro-F1 over the taidi labels", ABSENT, "—"))
        rows.append(("cold start: per-department precision / recall, confusion matrix", ABSENT, "—"))

    unlabelled = sorted(args.data_dir.glob("*unlabel*.csv")) if args.data_dir.is_dir() else []
    if unlabelled:
        source, pool = unlabelled[0].name, read_real(unlabelled[0], labelled=False).texts
    else:
        source, pool = "seed corpus (real unlabelled messages absent)", seed.texts
    messages = as_messages(pool, args.messages)
    speed = measure_throughput(model, messages)
    figures.update(
        throughput_msgs_per_s=speed["wall"],
        throughput_cpu_msgs_per_s=speed["cpu"],
        predict_one_ms_p50=speed["latency_ms"],
        throughput_source=source,
    )
    ref = measure_reference(model, messages)
    figures.update(
        sklearn_throughput_msgs_per_s=ref["wall"],
        sklearn_throughput_cpu_msgs_per_s=ref["cpu"],
        sklearn_predict_one_ms_p50=ref["latency_ms"],
    )
    rows.append(
        (
            f"throughput, predict_many, {len(messages):,} {MESSAGE_CHARS}-char messages from {source}",
            f"{speed['wall']:,.0f} msgs/s (sklearn pipeline: {ref['wall']:,.0f})" + before("throughput"),
            THROUGHPUT_TARGET,
        )
    )
    rows.append(
        (
            "throughput per second of process CPU time",
            f"{speed['cpu']:,.0f} msgs/s (sklearn pipeline: {ref['cpu']:,.0f})",
            "—",
        )
    )
    rows.append(
        (
            "latency, predict() one message, median",
            f"{speed['latency_ms']:.3f} ms (sklearn pipeline: {ref['latency_ms']:.2f} ms)" + before("latency"),
            LATENCY_TARGET,
        )
    )

    probe = probe_load(model_dir, args.model_root, messages[:2000])
    figures.update(
        model_load_s=probe["load_s"],
        import_s=probe["import_s"],
        peak_rss_mb=probe["peak_rss_mb"],
        model_file_mb=(model_dir / MODEL_FILE).stat().st_size / 1e6,
    )
    load = f"{probe['load_s']:.3f} s" + before("model_load")
    rows.append(("model load (fresh process, after imports)", load, "< 1 s"))
    rows.append(("imports before load (nlp, sklearn, rjieba)", f"{probe['import_s']:.3f} s", "—"))
    rows.append(("peak RSS: load + classify 2,000 messages", f"{probe['peak_rss_mb']:.0f} MB", "—"))
    rows.append(("model file size", f"{figures['model_file_mb']:.1f} MB", "—"))

    big = seed_to(seed, 10_000)
    wall, cpu = time.perf_counter(), time.process_time()
    train_model(big.texts, big.labels or [], label_info=info, user_words=words)
    figures["train_10k_s"] = time.perf_counter() - wall
    figures["train_10k_cpu_s"] = time.process_time() - cpu
    rows.append(
        (
            "training time, 10,000 messages (seed corpus, pairs of same-label messages joined)",
            f"{figures['train_10k_s']:.1f} s (CPU {figures['train_10k_cpu_s']:.1f} s)",
            "< 60 s",
        )
    )
    figures["load_average_1min"] = os.getloadavg()[0]

    data_state = "present" if args.data_dir.is_dir() else "absent on this machine"
    notes = (
        f"Real-data rows need {args.data_dir} ({data_state}). Seed-corpus CV measures the pipeline on "
        "our own hand-written messages and overstates real-world accuracy. Throughput is one process, "
        "best of 3 predict_many calls; 'sklearn pipeline' is the same model through scikit-learn's own "
        "Pipeline.predict_proba (one call), which the classifier no longer uses; wall-clock figures "
        "depend on other load "
        f"(1-minute load average during this run: {figures['load_average_1min']:.1f} on "
        f"{os.cpu_count()} cores), the CPU-time figure less so. Cold start: the model `gridbot serve` builds "
        f"from config/seed_corpus/, scored through config/{TAIDI_LABEL_MAP} (each taidi label covers a set of "
        "our departments/categories; the model's probabilities are summed per label)."
        " 'before:' gives the figure of the last run before issue 15 (2026-12-04 06:36 UTC). With the prior,"
        " the seed corpus relabelled through the label map joins every training fold (never a test fold)"
        f" at weight {PRIOR_WEIGHT} per message; scores are on the taidi messages only."
        " The taidi and COCC rows are `gridbot train`'s pipeline,"
        " NB-SVM (since 2026-12-05; the seed-corpus rows, cold start and the shipped model keep the plain"
        " LinearSVC). Tried for the plain pipeline on the same folds (macro-F1, taidi / COCC), none better"
        " than the plain LinearSVC C=0.5 (0.793 / 0.885): LinearSVC C=1 balanced 0.795 / 0.886, C chosen by inner"
        " CV 0.790 / 0.885, word bigrams 0.791 / 0.885, ridge 0.791 / 0.886, logistic regression 0.778 / 0.882,"
        " Complement NB 0.715, SVD(300) + RBF SVM 0.708, sklearn char 1–4-grams 0.786 / 0.879, words + char"
        " 1–4-grams 0.784. Tried 2026-12-05 (macro-F1 taidi / COCC, ECE taidi / COCC): NB-SVM (log-count"
        " ratio, LinearSVC C=0.5, kept) 0.826 / 0.885, ECE 0.068 / 0.046, with the prior 0.855 vs 0.845 for"
        " the plain pipeline (ECE 0.029 vs 0.038); NB-SVM C=1 0.829 / 0.883, C=0.1 0.808 / 0.881,"
        " C by inner CV 0.827 / 0.890 (ECE 0.067 / 0.052); late fusion"
        " of separately calibrated word and char models 0.794 / 0.887 (ECE 0.098 / 0.051), word + char +"
        " joint 0.801 / 0.889 (ECE 0.094 / 0.049); SGD modified_huber, Platt-calibrated, 0.806 / 0.881 (ECE"
        " 0.216 / 0.043), elastic-net 0.828 / 0.882 (ECE 0.182 / 0.056), its own probabilities 0.768 / 0.884"
        " (ECE 0.100 / 0.101); tf variants binary 0.745 / 0.880, raw 0.807 / 0.883, sqrt 0.796 / 0.885; word"
        " block weight 0.7 0.803 / 0.888, 1.4 0.786 / 0.881; chi2 selection (share kept by inner CV) 0.821 /"
        " 0.886 (ECE 0.044 / 0.029); max_df by inner CV 0.800 / 0.884; the title"
        " twice (taidi only) 0.803, NB-SVM 0.829. With the prior (plain pipeline 0.845): its weight by inner CV"
        " (0.03–0.5) 0.841, chi2 selection 0.839. 'Lexicon' rows (since 2026-12-06): the mailbox's official"
        " category tree (taidi2020c_taxonomy.csv, read at training time, never stored in the project) as one"
        " feature per group of terms (nlp/lexicon.py): until 2026-12-07 one group per first-level domain (15),"
        " since then also one per level-2 category (118 in all; prior and lexicon 0.874 -> 0.884 at the same"
        " scale; level-2 groups that also hold their domain's name 0.887, with level-3 groups besides 0.887: not"
        " kept, a message or two on the folds that picked them, and the plainer design without); on three other"
        " fold seeds (1–3) the level-2 groups gave, mean macro-F1, 0.831 -> 0.836 without the prior and 0.870 ->"
        " 0.882 with it. Our own taxonomy (config/taxonomy.yaml) as the shipped model's lexicon lowered cold start:"
        " names 0.847, names and descriptions 0.838, against 0.854 without; so did the mailbox's own tree (a city"
        " bringing its tree to the model it starts with): 0.851. Segmenting in jieba's search mode"
        " (long words also cut into the shorter words inside them) gave taidi 0.828 / 0.841 / 0.882 (plain,"
        " lexicon, prior and lexicon; against 0.826 / 0.842 / 0.884) and COCC 0.886 (0.885): dropped. The"
        " lexicon's scale 0.5"
        " was picked from 0.5 / 1 / 2 on these"
        " same rows (1: 0.842, with the prior 0.881; 2: 0.830 / 0.872), and every setting tried beat the rows"
        " without it. COCC has no such tree. Tried 2026-12-06 and dropped (macro-F1 taidi / COCC): unlabelled"
        " messages of the same mailbox (6,915, none of the dev texts) as vocabulary and idf 0.797, as LSA"
        " (k=300) beside the words 0.834 / 0.888 (COCC transductive), self-training 0.816 (0.843 with the"
        " prior); stacking word, char and joint NB-SVM 0.812 / 0.880; bagging 0.824 / 0.884; Crammer-Singer"
        " 0.793 / 0.883; NB interpolation 0.822 / 0.884; word bigrams with NB-SVM 0.823 / 0.887. Tried"
        " 2026-12-07 (taidi only): the cold-start model's label-mapped probabilities fused with the NB-SVM's"
        " (prior and lexicon, 0.874) out of fold, arithmetic weight 0.1–0.6 0.867–0.876, geometric 0.2–0.5"
        " 0.872–0.877, the best weight picked on the very folds it scores; the two models err on the same"
        " messages, so it was dropped. Also dropped: the mailbox's answered messages (taidi2020c_replies.csv,"
        " none of the dev texts) labelled by the agency their official reply names most (1,052 of 2,814), as"
        " a further prior beside the seed corpus (prior and lexicon, 0.874): weight 0.3 0.866, 1 0.844. A"
        " seed round 8 (319 letters and chats on subjects of the official tree the corpus named rarely:"
        " compulsory education, the social-insurance fund, blood donation, radioactive sources, plot ratio,"
        " road-use fees, import and export) moved cold start 0.854 -> 0.851 and the prior-and-lexicon CV"
        " 0.874 -> 0.871; reverted."
        f"{cold_notes}\n\n" + "\n\n".join(reliability)
    )
    report("classify", "Complaint classifier", rows, as_json=args.json, figures=figures, notes=notes)


def before(key: str) -> str:
    """' (before: …)' for a figure measured before issue 15, else ''."""
    return f" (before: {BEFORE[key]})" if key in BEFORE else ""


def cold_start_rows(cold: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """Accuracy, macro-F1, ECE and per-department precision/recall of the cold-start evaluation."""
    rows: list[tuple[str, Any, str]] = [
        (
            f"cold start: shipped model on taidi via label map, department accuracy ({cold['n_evaluated']} msgs)",
            f"{cold['accuracy']:.3f}" + before("cold_start_accuracy"),
            COLD_START_TARGET,
        ),
        ("cold start: macro-F1 over the taidi labels", f"{cold['macro_f1']:.3f}" + before("cold_start_macro_f1"), "—"),
    ]
    if "calibration" in cold:
        rows.append(("cold start: ECE of the predicted label's probability", f"{cold['calibration']['ece']:.3f}", "—"))
    for label, m in cold["per_class"].items():
        rows.append(
            (
                f"cold start {label}: precision / recall (n={m['support']})",
                f"{m['precision']:.2f} / {m['recall']:.2f}",
                "—",
            )
        )
    return rows


def confusion_markdown(cold: dict[str, Any]) -> str:
    """The cold-start confusion matrix as a markdown table (rows: true label, columns: predicted)."""
    labels, matrix = cold["confusion_matrix"]["labels"], cold["confusion_matrix"]["matrix"]
    lines = [
        "Cold-start confusion matrix (rows: true taidi label, columns: predicted):",
        "",
        "| true \\ predicted | " + " | ".join(labels) + " |",
        "|---" * (len(labels) + 1) + "|",
    ]
    lines += [
        f"| {label} | " + " | ".join(str(v) for v in row) + " |" for label, row in zip(labels, matrix, strict=True)
    ]
    return "\n".join(lines)


def reliability_markdown(title: str, calibration: dict[str, Any]) -> str:
    """A reliability table: per confidence bin, messages, mean confidence and accuracy."""
    lines = [
        f"Reliability, {title} (ECE {calibration['ece']:.3f}, {calibration['n']} msgs):",
        "",
        "| confidence | msgs | mean confidence | accuracy |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {b['low']:.1f}–{b['high']:.1f} | {b['n']} | {b['confidence']:.3f} | {b['accuracy']:.3f} |"
        for b in calibration["bins"]
    ]
    return "\n".join(lines)


def seed_to(seed: Dataset, count: int) -> Dataset:
    """count distinct messages from the seed corpus: each joins two random messages of one label."""
    rnd = random.Random(0)
    by_label: dict[str, list[str]] = {}
    for text, label in zip(seed.texts, seed.labels or [], strict=True):
        by_label.setdefault(label, []).append(text)
    labels = sorted(by_label)
    texts, out_labels = [], []
    for i in range(count):
        label = labels[i % len(labels)]
        texts.append(rnd.choice(by_label[label]) + rnd.choice(by_label[label]))
        out_labels.append(label)
    return Dataset(texts, out_labels, "seed corpus, joined pairs")


if __name__ == "__main__":
    main()
