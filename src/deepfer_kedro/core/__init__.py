"""The Kedro-free core: plain functions that the pipelines' nodes, the CLI and the scripts in
``benchmarks/`` share. Nothing here imports Kedro or MLflow, so a bare GPU machine runs it."""
