"""Pipeline stages as plain functions of (root, dataset[, cell]); DVC and Prefect both call these."""
