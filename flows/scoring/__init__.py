"""Scoring saved models: loading a regression net and batching its predictions, scores per horizon
step, conformal intervals, re-scoring an incumbent, and the gradients-through-time probe."""
