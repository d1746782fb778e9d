"""In-process fakes of third-party services, for tests."""
