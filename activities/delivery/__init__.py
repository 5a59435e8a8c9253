"""Side effects: webhook POST, email over SMTP, report file; each made safe by an idempotency key."""
