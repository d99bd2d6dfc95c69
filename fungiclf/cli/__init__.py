"""Other console scripts (report, data)."""
