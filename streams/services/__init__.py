"""In-process helpers of the agents, no I/O of their own: the decoded-state cache, the deadline
index, the funnel counts, the traffic hygiene filter, and ingest's visitor shortcut."""
