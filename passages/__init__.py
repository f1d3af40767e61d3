"""Safe Passages planning for community-safety partnerships.

The pipeline runs one way: areas -> network -> places and incidents -> risk -> routes ->
plan -> maps. Each stage is a module; :func:`passages.plan.make_plan` runs them all.
"""

__version__ = "0.1.0"
