"""Running stages over a batch: ``run_batch`` (the library entry point), the per-stage runner, the
stage registry, the executors (inline, process pool, Ray) and typed stage options."""
from pipeline.run.batch import RunError, RunOptions, RunReport, run_batch
from pipeline.run.runner import StageReport, run_stage
from pipeline.run.stages import StageUnavailable

__all__ = ["RunError", "RunOptions", "RunReport", "StageReport", "StageUnavailable", "run_batch", "run_stage"]
