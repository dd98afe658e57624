"""Everything that reaches the terminal or a file: `report` holds the Report model and the format
registry, `numbers` the formatting of figures, and one module per command builds its Report."""
