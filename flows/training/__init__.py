"""Training: the Lightning fit shared by the train stage, the backtest and the sweeps, epoch
checkpoints, the torchrun launch, and the trace of every optimiser step's gradient norm."""
