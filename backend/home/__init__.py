"""The home page of each role: what to do next (service), and the reminders that go with it."""
