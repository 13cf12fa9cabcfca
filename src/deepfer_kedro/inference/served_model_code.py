"""The code MLflow loads for a DeepFER served model ("models from code": nothing pickled)."""

from mlflow.models import set_model

from deepfer_kedro.inference.serving import EmotionModel

set_model(EmotionModel())
