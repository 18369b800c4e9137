"""The pieces of ``pargnn calibrate``, one concern per module.

:mod:`pargnn.planner.calibrate` is the front door (:func:`~pargnn.planner.calibrate.calibrate`
launches the ranks, merges their reports and fits the profile); these modules do the rest:

* :mod:`~pargnn.planner.calibration.plan`: every size a rank measures, full or ``quick``;
* :mod:`~pargnn.planner.calibration.collectives`: the rank-side clock that every point is timed
  with, and the collectives it times;
* :mod:`~pargnn.planner.calibration.kernels`: the local kernels, timed on every rank at once,
  and SpMM again on the calling process alone;
* :mod:`~pargnn.planner.calibration.fitting`: the lines fitted to the points;
* :mod:`~pargnn.planner.calibration.progress`: rank 0's progress lines, relayed to the caller;
* :mod:`~pargnn.planner.calibration.machine`: the device to calibrate and the machine's
  description recorded in the profile.

The dependencies run one way: ``plan``, ``fitting`` and ``machine`` need none of the others;
``progress`` needs ``plan``; ``collectives`` needs ``plan`` and ``progress``; ``kernels`` needs
those and ``collectives`` (for its clock).
"""
