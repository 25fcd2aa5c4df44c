"""Thing classes, attributes, relationship types, things and the links between them (seed 001)."""
