"""The event log: flows publish what happened; the log stores it without slowing them down."""
