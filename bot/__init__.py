"""talks-bot: answers questions about one Babel article, quoting it word for word."""

import os

# Set before numpy loads OpenBLAS. Training multiplies small matrices (64 x ~3,500): a second
# BLAS thread cut its time by 2-5 % for 60 % more CPU, and it would take the core that serves
# updates while /reload trains, or the other evaluation worker's core.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
