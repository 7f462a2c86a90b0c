"""Running untrusted notebook code: a clean fork server, per-child limits, a plain-data channel."""
