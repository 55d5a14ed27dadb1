"""The pure core: knowledge loading and validation, matching, answers and their rendering."""
