"""Search, export and statistics over the case projection."""
