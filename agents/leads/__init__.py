"""The lead handler: a pure planner (``plan``) and the handler that carries plans out
(``handler``)."""

from leadstream.agents.leads.handler import register_leads

__all__ = ["register_leads"]
