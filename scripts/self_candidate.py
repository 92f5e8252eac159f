"""Write a candidate that is the problem itself (Model renamed ModelNew): the honest control.

    python scripts/self_candidate.py PROBLEM.py > candidate.py
"""

import re
import sys

source = open(sys.argv[1]).read()
print(re.sub(r"\bclass Model\(", "class ModelNew(", source))
