"""The lead desk: pages for marketing and sales operations under ``/ui`` (funnel, lead, model),
served by every worker; HTML and SVG rendered on the server, one small script for live
refreshes, no build step, nothing fetched from elsewhere."""

from leadstream.streams.ops.desk.views import register_desk

__all__ = ["register_desk"]
