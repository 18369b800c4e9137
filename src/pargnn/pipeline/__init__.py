"""Pipeline parallelism over layers: consecutive layers on different stages, fed by chunks.

So far: the pure schedule generator (:mod:`pargnn.pipeline.schedule`), which says which
(stage, chunk, layer, direction) task every stage runs at every clock.
"""
