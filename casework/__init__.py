"""Complaint case-management domain and persistence package."""
