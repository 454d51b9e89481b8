"""Encoders behind one interface (base.Encoder); the registry picks them by settings."""
