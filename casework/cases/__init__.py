"""The case core: payloads, rows read back, visibility and stage rules shared by every kind."""
