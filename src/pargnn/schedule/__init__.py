"""Step schedules: what one optimisation step does, so that the epoch loop need not know.

The loop (:mod:`pargnn.training.loop`) asks a :class:`~pargnn.schedule.base.StepSchedule` for
the steps of an epoch and runs them; what a step is -- one forward/backward over the whole
graph (:mod:`~pargnn.schedule.full_graph`), none at all for a model without parameters
(:mod:`~pargnn.schedule.propagation`), sampled mini-batches or pipelined chunks in later
schedules -- is the schedule's business.
"""
