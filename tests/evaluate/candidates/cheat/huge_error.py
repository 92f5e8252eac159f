# kernelswarm-test: problem=relu_linear verdict=runtime_error|rejected
# Breaks the report with one enormous message: its error is 64 MB on one line (with a newline
# every 8 MB so no line-based cut keeps it small by chance), raised while it is being checked. The
# worker's reply carries the message, its log the traceback; the verdict's reason, details and log
# tail are what is shown, stored and sent to a model. It must end as an error with every text of
# its evaluation bounded (test_printable.py reads them), and the evaluator's memory must not hold
# copies of it.
from torch import nn

_MSG = ("E" * (8 << 20) + "\n") * 8


class ModelNew(nn.Module):
    def __init__(self, features):
        super().__init__()
        self.lin = nn.Linear(features, features)

    def forward(self, x):
        raise RuntimeError(_MSG)
