"""Earmark: a personal ambient-transcription daemon."""

import os

# The daemon's numpy work comes in small pieces (the features of one utterance, a block of
# audio). OpenBLAS would hand each to a second thread that then spins for about 0.1 s waiting
# for more: a tenth of a second of CPU per utterance, for nothing. One thread does it sooner.
# It takes effect only if set before numpy is first imported, hence here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

__version__ = "0.1.0"
