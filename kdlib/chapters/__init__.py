"""Per chapter: what its pages show, and the values its prose quotes (glued with myst-nb)."""
