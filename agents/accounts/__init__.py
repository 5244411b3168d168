"""The account handler: contact updates in, account states and ``account_engaged`` events out
(``plan`` decides, ``handler`` carries it out)."""

from leadstream.agents.accounts.handler import register_accounts

__all__ = ["register_accounts"]
