"""The device gateway: the edge where devices that do not speak HTTP connect (TCP listeners for the
binary and text trackers, an MQTT subscriber for phones). It holds the sockets; the protocols'
codecs (vigil.adapters) stay pure, and what they decode takes the same path as every other report."""
