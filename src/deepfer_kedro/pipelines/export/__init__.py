"""The export pipeline: `nodes.py` (plain functions) and `pipeline.py` (wiring)."""
