"""Results: the records a run keeps, their atomic store, and the statistics behind them."""
