"""Digest subscriptions: schedules, unsubscribe links and the emails they send."""
