"""The DVC graph: the pipeline's data flow written once, dvc.yaml written from it, DVC's own views
(plots page, metrics table) and lineage (which data a result came from, read from dvc.lock)."""
