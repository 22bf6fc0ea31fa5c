"""Password-path defences that ask someone else: captcha siteverify and breached-password lookups."""
