"""`gridbot retrain` and `gridbot model …`: new model versions from the city's history, activation, rollback.

The versions and the ACTIVE pointer live in the model directory (nlp/modelstore.py). Every process of one
installation (API, bot, worker, on one machine or several) must see the same model directory — a shared
volume when they run on several machines, as for the imported city under the data directory; each process
notices an activation within GRIDBOT_MODEL_CHECK_SECONDS (`Runtime.refresh_model`) without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from backend.runtime import load_default_classifier
from backend.services.learning import labelled_history
from backend.settings import Settings
from nlp.dataio import files_sha256, load_label_info, read_dataset
from nlp.modelstore import ModelVersion, activate, active_version, list_versions, rollback, save_version
from nlp.retrain import HOLDOUT_SHARE, Scores, train_candidate
from nlp.tokenize import words_from_config
from nlp.train import Progress

SEED_CORPUS = "seed_corpus"


@dataclass(frozen=True)
class RetrainReport:
    """What a retrain did: the figures of both models on the held-back history and the decision."""

    previous: str  # the version active when the retrain started
    version: str | None  # the new active version; None when the candidate was refused
    current: Scores
    candidate: Scores
    trained_on: int
    learned: int
    held_back: int

    @property
    def accepted(self) -> bool:
        """Whether the new model is now active."""
        return self.version is not None


def retrain_model(
    settings: Settings,
    session_factory: sessionmaker[Session],
    *,
    corpus_dir: Path | None = None,
    share: float = HOLDOUT_SHARE,
    progress: Progress | None = None,
) -> RetrainReport:
    """Train a candidate on the seed corpus plus the older history; activate it if not worse on the newest.

    Raises ValueError when the training data cannot make a model (e.g. a label with a single example).
    """
    corpus = corpus_dir or settings.config_dir / SEED_CORPUS
    root = settings.model_dir
    with session_factory() as session:
        history = labelled_history(session)
    current = load_default_classifier(settings)
    previous = active_version(root)
    seed = read_dataset(corpus, ["text"], "label")
    result = train_candidate(
        seed,
        history,
        current,
        label_info=load_label_info(settings.config_dir),
        user_words=words_from_config(settings.config_dir),
        share=share,
        progress=progress,
    )
    version = None
    if result.accepted:
        version = save_version(
            root,
            result.model,
            metadata={
                **result.metadata,
                "built_from": "retrain",
                "base_version": previous,
                "seed_corpus_sha256": files_sha256([corpus]),
                "learned_from_history": result.learned,
                "held_back": result.held_back,
                "evaluation": {
                    "on": f"newest {result.held_back} items of the city's history",
                    previous: vars(result.current),
                    "candidate": vars(result.candidate),
                },
            },
            now=datetime.now(UTC),
        )
        activate(root, version)
    return RetrainReport(
        previous=previous,
        version=version,
        current=result.current,
        candidate=result.candidate,
        trained_on=result.trained_on,
        learned=result.learned,
        held_back=result.held_back,
    )


def model_versions(settings: Settings) -> list[ModelVersion]:
    """Every version in the model directory, oldest first (the active one marked)."""
    return list_versions(settings.model_dir)


def activate_model(settings: Settings, version: str) -> str:
    """Make a version active (running processes pick it up); returns the version it replaced."""
    return activate(settings.model_dir, version)


def rollback_model(settings: Settings) -> str:
    """Return to the version active before the current one; returns its name."""
    return rollback(settings.model_dir)
