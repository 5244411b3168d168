"""Bytes ⇄ core values: the state and message codecs (``codecs``) and the mappers between the
wire schemas and the core (``mappers``)."""
