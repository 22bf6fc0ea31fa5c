"""Ways to authenticate (Kratos's strategies), plugged into the flows."""
