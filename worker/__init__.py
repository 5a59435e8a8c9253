"""`python -m worker`: the process that runs workflows and activities."""
