"""What every room stands on: params.yaml read into checked configurations, where each stage reads
and writes, atomic writes, and the quiet defaults of the tools we drive."""
