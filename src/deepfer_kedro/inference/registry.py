"""The MLflow Model Registry: every trained model is a version of ``deepfer``, and the ``champion``
alias points at the version with the best PublicTest top-1 (never PrivateTest: that one is only
reported). ``deepfer predict --model models:/deepfer@champion`` and
``mlflow models serve -m models:/deepfer@champion`` use it."""

from __future__ import annotations

import logging

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

logger = logging.getLogger(__name__)

CHAMPION = "champion"
SCORE_TAG = "publictest_accuracy"


def champion_score(client: MlflowClient, name: str) -> tuple[str | None, float | None]:
    """The champion's version and PublicTest top-1, or Nones when there is no champion yet."""
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None, None
    score = champion.tags.get(SCORE_TAG)
    return str(champion.version), (float(score) if score is not None else None)


def promote_if_better(name: str, version: str | int, publictest_accuracy: float | None,
                      client: MlflowClient | None = None) -> bool:
    """Tags ``version`` with its PublicTest top-1, then points ``champion`` at the best-scored version
    (the current champion on a tie). Returns whether ``version`` is now the champion.

    The best is read from every version's tag after ours is written, not compared with the champion
    alone: of two runs finishing together on a shared server, the later reader sees both scores, so
    the alias ends on the better one whichever run writes it last."""
    client = client or MlflowClient()
    version = str(version)
    if publictest_accuracy is None:
        logger.warning("Model %s version %s has no PublicTest score; the champion stays", name, version)
        return False
    client.set_model_version_tag(name, version, SCORE_TAG, f"{publictest_accuracy:.6f}")
    current, best = champion_score(client, name)
    scores = {str(v.version): float(v.tags[SCORE_TAG])
              for v in client.search_model_versions(f"name='{name}'") if SCORE_TAG in v.tags}
    top = max(scores.values())
    winner = current if best is not None and best >= top else min((v for v, s in scores.items() if s == top), key=int)
    if winner == current:
        logger.info("Registered %s version %s (PublicTest top-1 %.4f); the champion stays version %s (%.4f)",
                    name, version, publictest_accuracy, current, best)
        return version == current
    client.set_registered_model_alias(name, CHAMPION, winner)
    logger.info("Registered %s version %s (PublicTest top-1 %.4f); @%s is version %s (%.4f)%s", name, version,
                publictest_accuracy, CHAMPION, winner, top, "" if current is None else f", was version {current}")
    return winner == version
