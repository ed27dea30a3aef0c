"""Complaint casework (F1): government-style stage plans, from allocation to closure."""
