"""Code shared by the unit and end-to-end tests: builders, byte probes and actors."""
