"""What every room stands on: params.yaml read into checked configurations, where each stage reads
and writes, atomic writes, the quiet defaults of the tools we drive, and how a multi-step cell's
per-step figures are named and kept (perstep.py)."""
