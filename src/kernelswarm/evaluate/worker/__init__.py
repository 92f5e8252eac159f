"""The worker processes' side: the reference and candidate workers over a shared base, tensors,
comparison, sandbox, containment, labelling and the zygote. Nothing here imports the parent's
side (tests/evaluate/test_split.py): a candidate's process holds none of its logic."""
