"""Synthetic sample batches: realistic inpatient records with injected violations and ground truth.

Entry point: ``generate(out_dir, records=..., hospitals=..., seed=...)``; see README.md in this folder.
"""
from .generate import generate

__all__ = ["generate"]
