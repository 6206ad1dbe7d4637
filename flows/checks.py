"""Validate every parameter a run will use before anything starts, so a typo fails in a second."""
from __future__ import annotations

from flows.params import check_dataset, section, train_spec
from flows.sources.cosine import cosine_series
from flows.stages.data import WindowSpec
from models.config import from_mapping


def check_all(params: dict, datasets: list[str]) -> None:
    for dataset in datasets:
        check_dataset(dataset)
        length = len(cosine_series(**section(params, dataset, "ingest")))
        spec = from_mapping(WindowSpec, section(params, dataset, "windows"), f"{dataset}.windows")
        spec.ranges(length)
        for cell in params.get("cells", []):
            train_spec(params, dataset, cell)
