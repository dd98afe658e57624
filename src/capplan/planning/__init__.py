"""`capplan project` for decisions: ranges and sampling, sensitivity, break-even, calibration and
scenarios, on top of the projection's one model (projection.py, sizing.py, formulas.py).

`inputs` names every figure a projection depends on (a plan's figure, a growth rate, an
assumption) with its value and, where known, its range; `engine` evaluates the projection for
many values of them at once (numpy, imported only here); `sampling` and `sensitivity` ask it
their questions; `breakeven`, `calibration` and `scenarios` need no sampling at all.
"""
