CREATE DATABASE optuna;  -- sweeps' studies (RNNOPS_OPTUNA_STORAGE)
