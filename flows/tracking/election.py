"""The champion election, judged on one data version.

A registered version's own validation score (`val_rmse` ...) was computed on the data its tag
`dvc_data_md5` names. When a challenger was validated on other data than the incumbent (stocks_daily:
every day's snapshot moves the validation window), the incumbent is first re-scored on the
challenger's data and the result kept on the incumbent as the tag `<score tag>.on.<data md5>`
(MLflow tag keys allow no `@`). The election then compares only scores on that one data version, so
a model validated on a calm stretch cannot keep the alias on a stale figure. An incumbent that can no
longer be scored there (another window, transform or vocabulary; no weights logged) gets the tag
"unscorable: <why>" and is no candidate on that data. When every version shares the data (cosine),
nothing is re-scored and nothing is downloaded.
"""
from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from flows.tracking.store import CHAMPION
from models.errors import RnnopsError

DATA_TAG = "dvc_data_md5"
UNSCORABLE = "unscorable"
# rescore(folder holding a version's weights/ artifacts) -> its validation score on the current data;
# raises an RnnopsError when the saved model cannot be scored on it
Rescore = Callable[[Path], float]


def data_key(digest: str | None) -> str:
    """The data version as a tag key can hold it: DVC's "<md5>.dir", or the bare md5 of the files when
    DVC has not run ("<md5> (files, not via dvc)")."""
    return (digest or "").split(" ")[0] or "unknown"


def score_tag(tag: str, data: str) -> str:
    return f"{tag}.on.{data_key(data)}"


def score_on(version, tag: str, data: str) -> str | None:
    """The text of `version`'s `tag` score on `data`: its own when it was validated on that data, else
    its re-score there; None when it has none (never re-scored on it)."""
    if data_key(version.tags.get(DATA_TAG)) == data_key(data):
        return version.tags.get(tag)
    return version.tags.get(score_tag(tag, data))


def as_number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):  # "unscorable: ...", or not tagged yet
        return math.nan


def best_version(mlc: MlflowClient, name: str, tag: str, data: str) -> str | None:
    """The version with the lowest `tag` score on `data` over ALL versions of `name`; a tie goes to the
    older version. Versions with no score on `data` (other data and never re-scored on it, unscorable
    there, or still being registered) are not candidates."""
    scored, token = [], None
    while True:
        page = mlc.search_model_versions(f"name='{name}'", page_token=token)
        for v in page:
            score = as_number(score_on(v, tag, data))
            if not math.isnan(score):
                scored.append((score, int(v.version)))
        token = page.token
        if not token:
            break
    return str(min(scored)[1]) if scored else None


def elect_champion(mlc: MlflowClient, name: str, tag: str, data: str, rescore: Rescore | None = None) -> str | None:
    """Point `champion` at the best version on `data` (the challenger's validation data), re-scoring the
    incumbent there first when it was validated elsewhere; then read back until the alias and the best
    agree. Runs on several machines may interleave (a slow run's alias write landing after a better
    run's): whichever writes last re-reads after its write and corrects it, so whatever the
    interleaving, once every run has returned the alias names the best version. Idempotent: a version
    re-scored on `data` keeps that score, so the candidates on `data` only grow.

    Without `rescore`, an incumbent validated on other data is no candidate (its score is not comparable)."""
    best = None
    for _ in range(20):  # converges in one or two rounds; the bound only guards a pathological server
        current = champion_version(mlc, name)
        if current is not None and score_on(current, tag, data) is None and rescore is not None:
            judge(mlc, name, current, tag, data, rescore)
        best = best_version(mlc, name, tag, data)
        if best is None or (current is not None and str(current.version) == best):
            return best
        mlc.set_registered_model_alias(name, CHAMPION, best)
    return best


def judge(mlc: MlflowClient, name: str, version, tag: str, data: str, rescore: Rescore) -> str:
    """Score `version`'s logged weights with `rescore` and keep the figure (or why there is none) on it."""
    if not mlc.list_artifacts(version.run_id, "weights"):
        found = f"{UNSCORABLE}: version {version.version} has no weights/ artifacts to score"
    else:
        with tempfile.TemporaryDirectory(prefix="rnnops-rescore-") as tmp:
            folder = Path(mlc.download_artifacts(version.run_id, "weights", tmp))
            try:
                found = repr(float(rescore(folder)))
            except RnnopsError as exc:
                found = f"{UNSCORABLE}: {exc}"[:500]
    mlc.set_model_version_tag(name, str(version.version), score_tag(tag, data), found)
    return found


def champion_version(mlc: MlflowClient, name: str):
    try:
        return mlc.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
