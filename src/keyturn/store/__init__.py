"""Storage behind one interface: `protocols` says what, `sql` says how."""
