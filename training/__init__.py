"""Training recipes: encoder pretraining, linear probe (and later alignment, fine-tuning).

Imports `mochat`; nothing in `mochat/` imports this package. The `mochat train` command
is plugged in through the `mochat.commands` entry point `train = training:register`.
"""

from training.cli import register

__all__ = ["register"]
