"""Reviewer decisions as versioned annotation files (``annotations/``, schema in
``annotations/SCHEMA.md``): the input of retraining and the audit trail of what it learnt from."""
from pipeline.annotations.entities import export_entity_corrections, load_corrections
from pipeline.annotations.export import export_decisions
from pipeline.annotations.labels import labels_from, record_labels
from pipeline.annotations.load import AnnotationError, load_decisions

__all__ = ["export_decisions", "export_entity_corrections", "load_corrections", "load_decisions", "AnnotationError", "labels_from", "record_labels"]
