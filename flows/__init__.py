"""Orchestration and I/O: data sources, stage functions, the one MLflow module, reports, Prefect flows, CLI."""
