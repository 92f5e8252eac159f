"""What both sides share: the channel's frames (protocol.py) and sealed output files (sealed.py),
the chained keys of a burst's calls (chain.py)."""
