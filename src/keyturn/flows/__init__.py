"""Journeys (login, registration, settings): server-side state machines that call methods."""
