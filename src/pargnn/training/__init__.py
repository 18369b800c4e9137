"""Training: the front door of a run, the epoch loop, each rank's part, results and reports.

* :mod:`~pargnn.training.run`: :func:`train`, the one sequence of a run;
* :mod:`~pargnn.training.session`: what one process trains with (algorithm, model, schedule);
* :mod:`~pargnn.training.loop`: the epochs, and nothing else;
* :mod:`~pargnn.training.rank` and :mod:`~pargnn.training.merge`: one rank of a distributed
  run, and the merge of every rank's report;
* :mod:`~pargnn.training.result`, :mod:`~pargnn.training.report`,
  :mod:`~pargnn.training.memory`: what a run returns and writes, shows, and measures.
"""

from pargnn.training.result import EpochRecord, TrainResult
from pargnn.training.run import train

__all__ = ["EpochRecord", "TrainResult", "train"]
