"""Replay a touchpoint log through the current model and candidates, offline, and compare
(``leadstream backtest``; README, "Changing the model safely").

==================  ======================================================================
``records``         the log: JSON-lines files (``leadstream export`` writes them), or Kafka
``replay``          the pure core over a log, several models at once, as the worker applies it
``partition``       a log split by person, replayed in worker processes
``compare``         per model and against the first: MQLs, stages, grades, precision, changes
``render``          the comparison as terminal text and as one self-contained HTML report
==================  ======================================================================
"""
