"""The augmentation pipeline: `nodes.py` (plain functions) and `pipeline.py` (wiring).

Kept free of imports so that `nodes` loads without Kedro.
"""
