"""The planning service: one web application for planners, officers and command staff.

``passages serve`` starts it (:mod:`passages.web.app`). The web layer is a client of the
pipeline: it calls the same public functions as the command line (``make_plan``,
``cover``, the writers) and keeps what it needs between runs in a store
(:mod:`passages.web.store`: SQLite by default, PostgreSQL to scale up).
"""
