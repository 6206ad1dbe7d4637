"""The ML library: networks, Lightning modules, windowed datasets.

Imports torch / lightning / numpy only; never prefect, mlflow, dvc or yfinance.
"""
